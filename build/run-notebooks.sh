#!/usr/bin/env bash
# Executes every notebook under samples/ headless with dotnet-repl, as a person would run it: from the notebook's
# folder (where VS Code and Jupyter start the kernel too), so its first cells find the local feed
# ../../artifacts/packages, or build it with build/pack.sh when it is missing, and restore Lily.TorchSharp from it
# into an empty cache for the Lily packages (build/empty-lily-cache.sh). Executed copies, without the kernel's
# package-installation messages, and a .trx report per notebook (one result per code cell) go to
# artifacts/notebooks; a failing cell is named and fails the run.
# Usage: bash build/run-notebooks.sh   (from the repository root)
set -euo pipefail
repl_version=0.3.259
tools=$(mktemp -d)
dotnet tool install dotnet-repl --version "$repl_version" --tool-path "$tools" >/dev/null
source build/empty-lily-cache.sh
trap 'rm -rf "$tools" "$lily_cache_root"' EXIT
out=$PWD/artifacts/notebooks
rm -rf "$out" && mkdir -p "$out"
status=0
for notebook in samples/*/*.ipynb; do
  name=$(basename "$notebook" .ipynb)
  start=$SECONDS
  set +e
  (cd "$(dirname "$notebook")" && "$tools/dotnet-repl" --run "$(basename "$notebook")" --exit-after-run --output-format ipynb --output-path "$out/$name.ipynb") >"$out/$name.log" 2>&1
  repl=$?
  set -e
  echo "$notebook: dotnet-repl exit code $repl, $((SECONDS - start)) s"
  if [ ! -s "$out/$name.ipynb" ]; then
    cat "$out/$name.log"; status=1; continue
  fi
  dotnet run build/NotebookOutcome.cs -- "$notebook" "$out/$name.ipynb" "$out/$name.trx" || status=1
  [ "$repl" -eq 0 ] || status=1
done
# The notebooks restored Lily.TorchSharp into the empty cache, so from the local feed, not from an older build.
if ! ls -d "$NUGET_PACKAGES"/lily.torchsharp/*-local.* >/dev/null 2>&1; then
  echo "the notebooks did not restore Lily.TorchSharp from the local feed into the empty cache"; status=1
fi
exit $status
