# Sourced by build/try-install-route.sh and build/run-notebooks.sh: restores from here on see a NuGet cache with no
# Lily package in it, as a fresh machine has, while everything else (TorchSharp's libtorch is 2 GB) is still read
# from the machine's cache in place. Restore puts packages into a new, empty global-packages folder and looks in the
# machine's folder as a fallback; the Lily packages of a local build have a version of their own (build/pack.sh),
# which the fallback cannot hold. The caller removes "$lily_cache_root" when done.
lily_machine_cache=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
lily_cache_root=$(mktemp -d)
export NUGET_PACKAGES=$lily_cache_root/nuget-packages
export RestoreFallbackFolders=$lily_machine_cache     # an MSBuild property, read from the environment by restore
# A local build restored into the machine's cache by an earlier step (a sample or app built against the feed) would be
# found there through the fallback, and the restore would never reach the feed. Local builds (version *-local.*, see
# build/pack.sh) exist only on this machine, so removing them from its cache loses nothing.
rm -rf "${lily_machine_cache%/}"/lily.torchsharp*/*-local.*
