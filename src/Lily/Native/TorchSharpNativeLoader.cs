using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Lily.Native;

/// <summary>
/// Makes TorchSharp's native libraries load when TorchSharp comes straight from the NuGet cache, as in
/// a notebook's <c>#r "nuget: …"</c>, where no build step prepares them. Two things go wrong there on
/// Linux, and both are fixed before TorchSharp initialises:
/// <list type="bullet">
/// <item><description><c>libLibTorchSharp.so</c> of TorchSharp 0.107 needs <c>GLIBCXX_3.4.32</c>, which
/// libstdc++ before GCC 13 (Debian 12) lacks. The need is an unused link anchor, so a copy with that one
/// version-need marked weak (the build's own ELF fix, <c>build/WeakenElfVersionNeed.cs</c>) is written to a
/// per-user cache folder and loaded instead; the NuGet cache is never modified.</description></item>
/// <item><description>TorchSharp first loads <c>torch_cpu</c> by name, so a system libtorch on the loader
/// path (Debian's <c>python3-torch</c> installs one) wins over the package's. The package's own
/// <c>libc10</c>, <c>libtorch_cpu</c> and <c>libtorch</c> are therefore loaded by full path first; the
/// dynamic loader then hands those to every later load by name.</description></item>
/// </list>
/// The .NET Interactive extension in the package calls <see cref="Prepare"/> right after
/// <c>#r "nuget: Lily.TorchSharp"</c>; other hosts (F# Interactive, scripts) call it once before the first
/// use of <c>torch</c>. It does nothing on Windows and macOS, for an application whose native libraries sit
/// in its output folder (the build fix covers those), and once TorchSharp's native library is loaded.
/// </summary>
public static class TorchSharpNativeLoader
{
    /// <summary>The version-need that TorchSharp 0.107's native library records and Debian 12 lacks.</summary>
    public const string GlibcxxVersion = "GLIBCXX_3.4.32";

    private static readonly object Gate = new();
    private static string? outcome;

    /// <summary>
    /// Prepares TorchSharp's native libraries for loading from the NuGet cache (see the type's remarks).
    /// Safe to call more than once and from several threads; only the first call acts.
    /// </summary>
    /// <returns>A sentence saying what was done, for a log or a notebook's output.</returns>
    /// <exception cref="DllNotFoundException">A library of the package fails to load; the message names it
    /// and carries the loader's reason.</exception>
    /// <exception cref="IOException">The weak-need copy cannot be written to the per-user cache folder
    /// (<c>$XDG_CACHE_HOME</c>, else <c>~/.cache</c>).</exception>
    public static string Prepare()
    {
        lock (Gate)
            return outcome ??= PrepareOnce();
    }

    private static string PrepareOnce()
    {
        if (!OperatingSystem.IsLinux())
            return "Not Linux: TorchSharp loads its native libraries itself.";
        var maps = LoadedLibraries();
        if (maps.Any(p => Path.GetFileName(p) is "libLibTorchSharp.so" or "libtorch_cpu.so"))
            return "TorchSharp's native libraries are already loaded; nothing to do.";

        var layout = PackageLayout.Find(Path.GetDirectoryName(typeof(torch).Assembly.Location)!, LibtorchVersion());
        if (layout is null)
            return "TorchSharp is not loaded from a NuGet cache with libtorch-cpu; the build's fix covers this layout.";

        var libTorchSharp = layout.LibTorchSharp;
        var note = "";
        var libstdcxx = maps.FirstOrDefault(p => Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal));
        if (libstdcxx is not null && !ElfVersionNeed.Contains(File.ReadAllBytes(libstdcxx), Encoding.ASCII.GetBytes(GlibcxxVersion + "\0")))
        {
            libTorchSharp = WeakenedCopy(layout);
            note = $" {libstdcxx} lacks {GlibcxxVersion}: loaded a copy with that need marked weak ({libTorchSharp}).";
        }

        foreach (var library in layout.LibtorchInLoadOrder().Append(libTorchSharp))
        {
            try
            {
                NativeLibrary.Load(library);
            }
            catch (DllNotFoundException e)
            {
                throw new DllNotFoundException($"Lily could not load TorchSharp's native library {library}: {e.Message}", e);
            }
        }
        return $"Loaded libtorch and LibTorchSharp from the NuGet cache by full path ({layout.LibtorchDirectory}).{note}";
    }

    /// <summary>The weak-need copy in the per-user cache, written once per TorchSharp version.</summary>
    private static string WeakenedCopy(PackageLayout layout)
    {
        var folder = Path.Combine(CacheRoot(), "lily-torchsharp", layout.TorchSharpVersion);
        var target = Path.Combine(folder, "libLibTorchSharp.so");
        var weakened = File.ReadAllBytes(layout.LibTorchSharp);
        var error = ElfVersionNeed.Weaken(weakened, GlibcxxVersion, out _);
        if (error is not null)
            throw new DllNotFoundException($"Lily cannot mark {GlibcxxVersion} weak in {layout.LibTorchSharp}: {error}.");
        if (File.Exists(target) && File.ReadAllBytes(target).AsSpan().SequenceEqual(weakened))
            return target;

        try
        {
            Directory.CreateDirectory(folder);
            // Write beside, then rename: another process may be loading the same copy right now.
            var temp = $"{target}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(temp, weakened);
            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Lily could not write its copy of libLibTorchSharp.so to {folder} ({e.Message}); set XDG_CACHE_HOME to a writable folder.", e);
        }
        return target;
    }

    private static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg))
            return xdg;
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
    }

    /// <summary>TorchSharp's own record of the libtorch package it was built against, e.g. 2.10.0.0.</summary>
    private static string? LibtorchVersion() =>
        typeof(torch).GetField("libtorchPackageVersion", BindingFlags.NonPublic | BindingFlags.Static)?.GetRawConstantValue() as string;

    /// <summary>Paths of the shared libraries mapped into this process (from /proc/self/maps).</summary>
    private static List<string> LoadedLibraries()
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? line[i..] : "")
                .Where(p => p.Contains(".so", StringComparison.Ordinal))
                .Distinct()
                .ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}
