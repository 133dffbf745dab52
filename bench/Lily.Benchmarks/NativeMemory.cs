using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Lily.Benchmarks;

/// <summary>
/// Peak native memory of one benchmark operation, measured in a child process so that the timed
/// process keeps the allocator's normal behaviour.
/// </summary>
/// <remarks>
/// <para>The child (this program with <see cref="Command"/>) sets glibc's mmap threshold to 64 KiB,
/// so every tensor buffer of 64 KiB or more is its own mapping that goes back to the OS when freed,
/// builds the case, runs the operation three times (thread pools, BLAS buffers and other one-time
/// allocations settle), drops the gradients the runs left (so the new ones count), trims the heap, resets the kernel's resident high-water mark
/// (<c>/proc/self/clear_refs</c>) and runs the operation once more. The result is
/// <c>VmHWM − VmRSS before</c>: the most memory the operation had resident at once — its output,
/// what autograd saved for backward, gradients and temporaries. Buffers under 64 KiB come from the
/// heap and may be missed; the resolution is a page (4 KiB). Linux only; CPU only (a CUDA run
/// reports n/a).</para>
/// </remarks>
public static class NativeMemory
{
    /// <summary>The first argument that makes this program a memory probe instead of a benchmark run.</summary>
    public const string Command = "--probe-native-memory";

    private const int MmapThresholdParam = -3;   // M_MMAP_THRESHOLD
    private const int TrimThresholdParam = -1;   // M_TRIM_THRESHOLD
    private static readonly Dictionary<string, long?> Cache = new();

    /// <summary>Peak bytes of one call of <paramref name="operation"/> on <paramref name="target"/>, or null where it cannot be measured.</summary>
    /// <param name="kind">Which case builder: <c>layer</c> or <c>train</c>.</param>
    /// <param name="target">The case's parameters, as the probe parses them.</param>
    /// <param name="operation">Which operation of the case.</param>
    public static long? PeakBytes(string kind, string target, string operation)
    {
        var options = BenchOptions.Current;
        if (options.IsCuda || !OperatingSystem.IsLinux()) return null;
        string key = $"{kind}|{target}|{operation}";
        lock (Cache)
        {
            if (!Cache.TryGetValue(key, out var bytes))
            {
                bytes = RunChild([Command, kind, target, operation, .. options.ToArguments()]);
                Cache[key] = bytes;
            }
            return bytes;
        }
    }

    /// <summary>The child side: measures and prints <c>PEAK_BYTES=n</c>.</summary>
    /// <param name="args">KIND TARGET OPERATION, as <see cref="PeakBytes"/> passes them.</param>
    /// <param name="operationFor">Builds the case and returns the operation to measure and how to clear its gradients.</param>
    public static int Probe(string[] args, Func<string, string, string, ProbeTarget> operationFor)
    {
        if (args.Length != 3) throw new ArgumentException($"{Command} takes KIND TARGET OPERATION.");
        mallopt(MmapThresholdParam, 64 * 1024);
        mallopt(TrimThresholdParam, 64 * 1024);

        var (run, clear) = operationFor(args[0], args[1], args[2]);
        for (int i = 0; i < 3; i++) run();
        clear();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        malloc_trim(0);
        long before = ReadStatusKiB("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5");
        run();
        long peak = ReadStatusKiB("VmHWM");
        Console.WriteLine(FormattableString.Invariant($"PEAK_BYTES={Math.Max(0, peak - before) * 1024}"));
        return 0;
    }

    private static long? RunChild(IEnumerable<string> args)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path.");
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Started through `dotnet app.dll`: pass the assembly again.
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(typeof(NativeMemory).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {self}.");
        var stderr = child.StandardError.ReadToEndAsync();
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        var line = output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("PEAK_BYTES=", StringComparison.Ordinal));
        if (child.ExitCode != 0 || line is null)
        {
            Console.Error.WriteLine($"Native memory probe failed ({child.ExitCode}): {stderr.Result}");
            return null;
        }
        return long.Parse(line["PEAK_BYTES=".Length..], CultureInfo.InvariantCulture);
    }

    private static long ReadStatusKiB(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal)) continue;
            var number = line[(field.Length + 1)..].Trim().Split(' ')[0];
            return long.Parse(number, CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"/proc/self/status has no {field}.");
    }

    /// <summary>Formats bytes as MiB with two decimals, or n/a.</summary>
    public static string Format(long? bytes) =>
        bytes is long b ? (b / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB" : "n/a";

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}

/// <summary>What the memory probe measures: an operation, and how to drop the gradients it leaves.</summary>
/// <param name="Run">The operation.</param>
/// <param name="ClearGradients">Sets the gradients of the case's leaves to none.</param>
public readonly record struct ProbeTarget(Action Run, Action ClearGradients);
