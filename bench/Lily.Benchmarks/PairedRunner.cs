using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lily.Injection;

namespace Lily.Benchmarks;

/// <summary>
/// Interleaved timing for ratios: every round times each variant once, back to back, and the
/// ratio to the reference is taken within the round; the report gives the median and quartiles
/// of those per-round ratios. Load from other processes that changes slowly moves all variants
/// of a round alike, so the ratios stay put where BenchmarkDotNet's one-case-after-another means
/// drift. Run with <c>--paired [rounds]</c>.
/// </summary>
public static class PairedRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--paired";

    private static readonly string[] Shapes = ["8x197x768", "1x512x1024", "32x64x128"];

    /// <summary>Runs the layer and training comparisons and prints markdown tables.</summary>
    /// <param name="rounds">Rounds per comparison.</param>
    public static int Run(int rounds)
    {
        var device = BenchOptions.Current.TorchDevice;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Paired runs: {rounds} rounds, device {BenchOptions.Current.Device}, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Shape | Operation | Adapter | Median time | x Frozen (median [q1, q3]) | x LoRA (median [q1, q3]) |");
        report.AppendLine("|---|---|---|---:|---:|---:|");
        foreach (var shape in Shapes)
        {
            var cases = Enum.GetValues<Adapter>().Select(a => (Adapter: a, Case: LayerCase.Create(a, LayerShape.Parse(shape), device))).ToList();
            foreach (var (operation, pick) in new (string, Func<LayerCase, Action>)[] { ("Forward", c => c.Forward), ("ForwardBackward", c => c.ForwardBackward) })
            {
                var times = Measure(cases.Select(c => pick(c.Case)).ToList(), rounds);
                for (int i = 0; i < cases.Count; i++)
                {
                    report.AppendLine(CultureInfo.InvariantCulture,
                        $"| {shape} | {operation} | {cases[i].Adapter} | {Median(times[i]):F3} ms | {Ratio(times[i], times[0])} | {Ratio(times[i], times[1])} |");
                }
                Console.Error.WriteLine($"paired: {shape} {operation} done");
            }
            foreach (var c in cases) c.Case.Dispose();
        }

        report.AppendLine();
        report.AppendLine("| Training step | Median time | steps/s | x LoRA (median [q1, q3]) |");
        report.AppendLine("|---|---:|---:|---:|");
        var adapters = new[] { Adapter.Lora, Adapter.LilyBatchMean, Adapter.LilyPerSample, Adapter.LilyPerToken };
        var steps = adapters.Select(a => TinyVitCase.Create(a, device)).ToList();
        var stepTimes = Measure(steps.Select(s => (Action)s.Step).ToList(), rounds);
        for (int i = 0; i < adapters.Length; i++)
        {
            double median = Median(stepTimes[i]);
            report.AppendLine(CultureInfo.InvariantCulture, $"| {adapters[i]} | {median:F1} ms | {1000 / median:F2} | {Ratio(stepTimes[i], stepTimes[0])} |");
        }
        foreach (var s in steps) s.Dispose();

        // The same step with adapters attached by forward hooks instead of replacing the layers.
        report.AppendLine();
        report.AppendLine("| Training step, attachment | Median time | x Replace (median [q1, q3]) |");
        report.AppendLine("|---|---:|---:|");
        foreach (var adapter in new[] { Adapter.Lora, Adapter.LilyBatchMean })
        {
            var pair = new[] { AdapterAttachment.Replace, AdapterAttachment.Hook }.Select(a => TinyVitCase.Create(adapter, device, a)).ToList();
            var pairTimes = Measure(pair.Select(s => (Action)s.Step).ToList(), rounds);
            report.AppendLine(CultureInfo.InvariantCulture, $"| {adapter}, Replace | {Median(pairTimes[0]):F1} ms | 1 |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| {adapter}, Hook | {Median(pairTimes[1]):F1} ms | {Ratio(pairTimes[1], pairTimes[0])} |");
            foreach (var s in pair) s.Dispose();
        }

        Console.WriteLine(report.ToString());
        return 0;
    }

    // Per variant, per round: milliseconds per call. Each round runs the variants in a rotated
    // order, each for enough calls to last about 50 ms.
    internal static List<double>[] Measure(IReadOnlyList<Action> variants, int rounds)
    {
        var calls = new int[variants.Count];
        for (int v = 0; v < variants.Count; v++)
        {
            for (int i = 0; i < 3; i++) variants[v]();
            var sw = Stopwatch.StartNew();
            variants[v]();
            calls[v] = Math.Clamp((int)(50 / Math.Max(sw.Elapsed.TotalMilliseconds, 0.01)), 1, 1000);
        }
        var times = variants.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < variants.Count; k++)
            {
                int v = (k + round) % variants.Count;
                double start = BenchClock.Now();
                for (int i = 0; i < calls[v]; i++) variants[v]();
                times[v].Add((BenchClock.Now() - start) / calls[v]);
            }
        }
        return times;
    }

    internal static string Ratio(List<double> times, List<double> reference)
    {
        var ratios = times.Zip(reference, (t, r) => t / r).Order().ToList();
        return string.Create(CultureInfo.InvariantCulture, $"{Quantile(ratios, 0.5):F3} [{Quantile(ratios, 0.25):F3}, {Quantile(ratios, 0.75):F3}]");
    }

    internal static double Median(List<double> values) => Quantile(values.Order().ToList(), 0.5);

    internal static double Quantile(List<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int low = (int)Math.Floor(position), high = (int)Math.Ceiling(position);
        return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
    }
}
