using System.Globalization;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// Options of this program that BenchmarkDotNet does not know: the torch device and the number
/// of torch threads. They are taken off the command line before the rest goes to BenchmarkDotNet;
/// the benchmarks run in this process, so they read them from <see cref="Current"/>.
/// </summary>
public sealed record BenchOptions
{
    /// <summary>Torch device the benchmarks run on: <c>cpu</c> (default) or <c>cuda</c>, <c>cuda:1</c>, ...</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Intra-op threads given to <c>torch.set_num_threads</c> (default 2, the cores of the reference machine).</summary>
    public int Threads { get; init; } = 2;

    /// <summary>
    /// <c>--cpu-time</c>: the interleaved runners time the calling thread's CPU time instead of wall time
    /// (<see cref="BenchClock"/>); Linux, CPU and one torch thread only.
    /// </summary>
    public bool CpuTime { get; init; }

    /// <summary>The options of this run.</summary>
    public static BenchOptions Current { get; set; } = new();

    /// <summary>True when the device is a CUDA device.</summary>
    public bool IsCuda => Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);

    /// <summary>The torch device.</summary>
    public Device TorchDevice => device(Device);

    /// <summary>Waits for queued GPU work, so a timed call ends when its kernels end; nothing on the CPU.</summary>
    public void Synchronize()
    {
        if (IsCuda) cuda.synchronize(TorchDevice);
    }

    /// <summary>The arguments that give these options to a child process.</summary>
    public IEnumerable<string> ToArguments() =>
        ["--device", Device, "--threads", Threads.ToString(CultureInfo.InvariantCulture)];

    /// <summary>Takes <c>--device X</c>, <c>--threads N</c> and <c>--cpu-time</c> off <paramref name="args"/>; the rest is returned in <paramref name="rest"/>.</summary>
    /// <exception cref="ArgumentException">A value is missing or invalid.</exception>
    public static BenchOptions Parse(string[] args, out string[] rest)
    {
        var options = new BenchOptions();
        var others = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--device":
                    options = options with { Device = Value(args, ref i) };
                    break;
                case "--threads":
                    var text = Value(args, ref i);
                    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int threads) || threads < 1)
                        throw new ArgumentException($"--threads takes a positive integer, not '{text}'.");
                    options = options with { Threads = threads };
                    break;
                case "--cpu-time":
                    options = options with { CpuTime = true };
                    break;
                default:
                    others.Add(args[i]);
                    break;
            }
        }
        rest = others.ToArray();
        if (options.CpuTime && (options.Threads != 1 || options.IsCuda || !OperatingSystem.IsLinux()))
            throw new ArgumentException("--cpu-time needs --threads 1 on the CPU under Linux: other threads' or the GPU's work would not be counted.");
        return options;
    }

    private static string Value(string[] args, ref int i)
    {
        if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value.");
        return args[++i];
    }
}
