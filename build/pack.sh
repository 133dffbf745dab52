#!/usr/bin/env bash
# Builds the local NuGet feed: Lily.TorchSharp, Lily.TorchSharp.Distributed and Lily.TorchSharp.Bert, with symbols,
# into artifacts/packages (or the folder given as $1). Until the packages are on the public feed, this is how an app
# or a notebook gets them (README, "Install").
# Every build gets a version of its own, <Version>-local.<UTC date and time>: NuGet serves a cached package of the
# same version without looking at the feed, so a fixed version would let an app or a notebook run an older build.
# The timestamp also orders the builds, so "the newest prerelease" (--prerelease, *-*) is the latest one.
# Usage: bash build/pack.sh [feed folder]      Prints the version on the last line of standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
feed=$(realpath -m "${1:-artifacts/packages}")
prefix=$(dotnet msbuild src/Lily/Lily.csproj -getProperty:Version)
version="$prefix-local.$(date -u +%Y%m%d%H%M%S)"
# Older local builds go: the feed holds one build, so nothing can pick a stale one from it.
mkdir -p "$feed" && rm -f "$feed"/Lily.TorchSharp*.nupkg "$feed"/Lily.TorchSharp*.snupkg
for project in src/Lily/Lily.csproj src/Lily.Distributed/Lily.Distributed.csproj src/Lily.Bert/Lily.Bert.csproj; do
  dotnet pack "$project" -c Release -o "$feed" -p:Version="$version" -nologo -v quiet >&2
done
cat >&2 <<TEXT

Lily packages $version in $feed

In an app's folder:
  dotnet new nugetconfig                  # once, if the app has no nuget.config
  dotnet nuget add source $feed --name lily-local --configfile nuget.config
  dotnet add package Lily.TorchSharp --prerelease
  dotnet add package TorchSharp-cpu --version 0.107.0   # or TorchSharp-cuda-linux; the TorchSharp Lily is built on

In a .NET Interactive notebook, a cell that points the kernel's restore at the feed, then the references:
  Environment.SetEnvironmentVariable("RestoreAdditionalProjectSources", "$feed");
  #r "nuget: Lily.TorchSharp, *-*"
  #r "nuget: TorchSharp-cpu, 0.107.0"

TEXT
echo "$version" > "$feed/version.txt"   # for scripts (CI) that build against the feed
echo "$version"
