namespace Lily.Native;

/// <summary>
/// Where TorchSharp's native libraries sit when TorchSharp.dll is loaded from the NuGet cache
/// (<c>&lt;packages&gt;/torchsharp/&lt;version&gt;/lib/&lt;tfm&gt;/TorchSharp.dll</c>): LibTorchSharp in the
/// torchsharp package, libtorch in the libtorch-cpu-linux-x64 package beside it.
/// </summary>
/// <param name="TorchSharpVersion">The torchsharp package folder's version, e.g. 0.107.0.</param>
/// <param name="LibTorchSharp">Full path of the package's libLibTorchSharp.so.</param>
/// <param name="LibtorchDirectory">The libtorch-cpu package's native folder.</param>
internal sealed record PackageLayout(string TorchSharpVersion, string LibTorchSharp, string LibtorchDirectory)
{
    /// <summary>The only Linux runtime TorchSharp ships natives for.</summary>
    public const string Rid = "linux-x64";

    /// <summary>
    /// The layout for TorchSharp.dll in <paramref name="assemblyDirectory"/>, or null where that is not a
    /// NuGet cache folder with libtorch-cpu restored (an application's output folder, a CUDA setup).
    /// </summary>
    /// <param name="assemblyDirectory">The folder holding TorchSharp.dll.</param>
    /// <param name="libtorchVersion">TorchSharp's libtorch package version (e.g. 2.10.0.0); null to accept
    /// the single version restored.</param>
    public static PackageLayout? Find(string assemblyDirectory, string? libtorchVersion)
    {
        var lib = Path.GetDirectoryName(Path.GetFullPath(assemblyDirectory).TrimEnd(Path.DirectorySeparatorChar));
        if (lib is null || Path.GetFileName(lib) != "lib" || File.Exists(Path.Combine(assemblyDirectory, "libLibTorchSharp.so")))
            return null;
        var home = Path.GetDirectoryName(lib)!;                      // <packages>/torchsharp/<version>
        var packages = Path.GetDirectoryName(Path.GetDirectoryName(home)!)!;
        var libTorchSharp = Path.Combine(home, "runtimes", Rid, "native", "libLibTorchSharp.so");
        var cpuPackage = Path.Combine(packages, $"libtorch-cpu-{Rid}");
        if (!File.Exists(libTorchSharp) || !Directory.Exists(cpuPackage))
            return null;

        string? version = libtorchVersion is null ? null : NuGetFolderVersion(libtorchVersion);
        if (version is null)
        {
            var restored = Directory.GetDirectories(cpuPackage);
            if (restored.Length != 1) return null;
            version = Path.GetFileName(restored[0]);
        }
        var native = Path.Combine(cpuPackage, version, "runtimes", Rid, "native");
        return File.Exists(Path.Combine(native, "libtorch_cpu.so"))
            ? new PackageLayout(Path.GetFileName(home), libTorchSharp, native)
            : null;
    }

    /// <summary>libtorch's libraries present, each after the ones it needs: OpenMP, c10, torch_cpu, torch.</summary>
    public IEnumerable<string> LibtorchInLoadOrder()
    {
        var gomp = Directory.GetFiles(LibtorchDirectory, "libgomp*.so*").Order(StringComparer.Ordinal);
        var core = new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" }.Select(n => Path.Combine(LibtorchDirectory, n));
        return gomp.Concat(core).Where(File.Exists);
    }

    /// <summary>NuGet's folder name for a version: a zero fourth part is dropped (2.10.0.0 → 2.10.0).</summary>
    private static string NuGetFolderVersion(string version)
    {
        var parts = version.Split('.');
        return parts.Length == 4 && parts[3] == "0" ? string.Join('.', parts[..3]) : version;
    }
}
