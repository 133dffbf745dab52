#!/usr/bin/env bash
# The README's install route, end to end, as a newcomer follows it: build the local feed (build/pack.sh), make a new
# console app outside the repository, add Lily.TorchSharp and TorchSharp-cpu, build it and run it. The Lily packages
# come into an empty NuGet cache (build/empty-lily-cache.sh). Fails if any step fails,
# if the Lily package was not taken from the new feed, or if the app does not print its adapter summary.
# Usage: bash build/try-install-route.sh     (from anywhere; leaves the feed in artifacts/packages)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

echo "-- bash build/pack.sh"
version=$(bash build/pack.sh | tail -n 1)
feed=$repo/artifacts/packages

source build/empty-lily-cache.sh
work=$lily_cache_root
trap 'rm -rf "$work"' EXIT

mkdir "$work/app" && cd "$work/app"
echo "-- the README's commands, in a new app ($work/app)"
dotnet new console --framework net10.0 >/dev/null
dotnet new nugetconfig >/dev/null
dotnet nuget add source "$feed" --name lily-local --configfile nuget.config
dotnet add package Lily.TorchSharp --prerelease
cat > Program.cs <<'CS'
using Lily;
using Lily.Tuners;
using TorchSharp;
using static TorchSharp.torch;

var model = nn.Sequential(("fc1", nn.Linear(8, 16)), ("act", nn.ReLU()), ("head", nn.Linear(16, 2)));
var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["fc1"], R = 2, ModulesToSave = ["head"] });
Console.WriteLine(peft.GetParameterSummary());
using var y = model.call(randn(4, 8));
Console.WriteLine($"output shape [{string.Join(", ", y.shape)}]");
CS
# A newcomer who forgets the backend package is told, at build time, which one to add (not a DllNotFoundException at run time).
if missing=$(dotnet build -c Release -nologo 2>&1); then echo "the build without a backend package succeeded"; exit 1; fi
grep -q "LILY0001.*dotnet add package TorchSharp-cpu --version 0.107.0" <<<"$missing" || { echo "$missing"; echo "no LILY0001 error naming the fix"; exit 1; }
echo "without the backend package: LILY0001 names the fix"
dotnet add package TorchSharp-cpu --version 0.107.0
dotnet build -c Release -nologo -v quiet
output=$(dotnet run -c Release --no-build)
echo "$output"

# The package came from the feed just built, into the empty cache, at the version just built.
grep -q "Include=\"Lily.TorchSharp\" Version=\"$version\"" app.csproj || { echo "app.csproj does not reference Lily.TorchSharp $version"; exit 1; }
test -d "$NUGET_PACKAGES/lily.torchsharp/$version" || { echo "Lily.TorchSharp $version was not restored into the empty cache"; exit 1; }
grep -q "trainable params" <<<"$output" && grep -q "output shape \[4, 2\]" <<<"$output" || { echo "the app did not run as expected"; exit 1; }
echo "install route: Lily.TorchSharp $version from $feed into an empty cache, app built and run"
