#!/usr/bin/env bash
# Executes every notebook under samples/ headless, as a person would run it, with the package from
# the local feed artifacts/packages (built by `dotnet pack`). Executed copies and a .trx report per
# notebook (one result per code cell) go to artifacts/notebooks;
# a failing cell is named and fails the run.
# Usage: bash build/run-notebooks.sh   (from the repository root, after dotnet pack)
set -euo pipefail
repl_version=0.3.259
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
dotnet tool install dotnet-repl --version "$repl_version" --tool-path "$tools" >/dev/null
out=artifacts/notebooks
rm -rf "$out" && mkdir -p "$out"
# #r "nuget: Lily.TorchSharp, …" restores through MSBuild, which reads this from the environment.
export RestoreAdditionalProjectSources="$PWD/artifacts/packages"
status=0
for notebook in samples/*/*.ipynb; do
  name=$(basename "$notebook" .ipynb)
  start=$SECONDS
  set +e
  "$tools/dotnet-repl" --run "$notebook" --exit-after-run --output-format ipynb --output-path "$out/$name.ipynb" >"$out/$name.log" 2>&1
  repl=$?
  set -e
  echo "$notebook: dotnet-repl exit code $repl, $((SECONDS - start)) s"
  if [ ! -s "$out/$name.ipynb" ]; then
    cat "$out/$name.log"; status=1; continue
  fi
  dotnet run build/NotebookOutcome.cs -- "$notebook" "$out/$name.ipynb" "$out/$name.trx" || status=1
  [ "$repl" -eq 0 ] || status=1
done
exit $status
