using System.Globalization;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// This program's command line: the torch device and threads, the clock, and which runner runs with which
/// rounds and flags; what BenchmarkDotNet takes is passed on to it. The benchmarks run in this process, so
/// they read the options from <see cref="Current"/>.
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

    /// <summary>
    /// The runner the command line selects (<c>--paired</c>, <c>--llama</c>, <c>--bert</c>, …; see <see cref="Program"/>),
    /// or null: BenchmarkDotNet runs, with <see cref="BenchmarkArguments"/>.
    /// </summary>
    public string? Mode { get; init; }

    /// <summary>The runner's rounds (the first number after the mode), or null for the runner's default.</summary>
    public int? Rounds { get; init; }

    /// <summary><c>--quick</c>: the runner's smoke-test mode (<c>--llama</c>, <c>--bert</c>).</summary>
    public bool Quick { get; init; }

    /// <summary><c>--tax</c>: <c>--llama</c>'s library-tax mode only.</summary>
    public bool Tax { get; init; }

    /// <summary><c>--tiny</c>: <c>--sitecost</c>'s tiny chain only.</summary>
    public bool Tiny { get; init; }

    /// <summary><c>--targets qv|all</c>: <c>--bert</c>'s target set, or null for its default.</summary>
    public string? Targets { get; init; }

    /// <summary>Words after the mode that are neither numbers nor flags: <c>--levers</c>' group, the native-memory probe's KIND TARGET OPERATION.</summary>
    public IReadOnlyList<string> Words { get; init; } = [];

    /// <summary>Without a mode: what BenchmarkDotNet is given (<c>--filter '*'</c>, …).</summary>
    public IReadOnlyList<string> BenchmarkArguments { get; init; } = [];

    /// <summary>The runners a mode argument selects; anything else first on the line goes to BenchmarkDotNet.</summary>
    public static IReadOnlyList<string> Modes { get; } =
    [
        NativeMemory.Command, PairedRunner.Command, MixedBatchRunner.Command, Llama.LlamaRunner.Command, Llama.LeverRunner.Command,
        SadeRunner.Command, SiteCost.SiteCostRunner.Command, Bert.BertRunner.Command,
    ];

    /// <summary>
    /// The whole command line, the one parser of this program: <c>--device X</c>, <c>--threads N</c> and
    /// <c>--cpu-time</c> anywhere; then a mode with its rounds, words and flags, or BenchmarkDotNet's own arguments.
    /// </summary>
    /// <exception cref="ArgumentException">A value is missing or invalid, or a mode is given an argument it does not take.</exception>
    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        var words = new List<string>();
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
                // A mode counts only first on the line; after it, its own arguments.
                case var mode when options.Mode is null && others.Count == 0 && Modes.Contains(mode):
                    options = options with { Mode = mode };
                    break;
                case var _ when options.Mode is null:
                    others.Add(args[i]);
                    break;
                case "--quick":
                    options = options with { Quick = true };
                    break;
                case "--tax":
                    options = options with { Tax = true };
                    break;
                case "--tiny":
                    options = options with { Tiny = true };
                    break;
                case "--targets":
                    options = options with { Targets = Value(args, ref i) };
                    break;
                case var number when options.Rounds is null && options.Mode != NativeMemory.Command && int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out int rounds):
                    if (rounds < 1) throw new ArgumentException($"{options.Mode} takes a positive number of rounds, not '{number}'.");
                    options = options with { Rounds = rounds };
                    break;
                case var word when !word.StartsWith("--", StringComparison.Ordinal):
                    words.Add(word);
                    break;
                default:
                    throw new ArgumentException($"{options.Mode} does not take '{args[i]}'.");
            }
        }
        options = options with { Words = words, BenchmarkArguments = others };
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
