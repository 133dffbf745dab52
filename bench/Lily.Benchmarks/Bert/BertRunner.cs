using System.Globalization;
using System.Text;
using Lily.Serialization;
using Lily.TextClassification.Methods;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Bert;

/// <summary>
/// Cost per method at real scale (issue 23): the MiniLM-shaped BERT classifier (<see cref="BertSize.MiniLm"/>,
/// mean pooling, random weights: time does not depend on their values), batch 16 × 128. For LoRA r = 8
/// (alpha 16) and DoRA, Lily and CLoRA at LoRA's budget as <see cref="MethodCatalog"/> (shared/Lily.TextClassification) matches them,
/// and full fine-tuning: a training step (forward, cross-entropy, backward, AdamW), an unmerged and a merged
/// inference forward, against the frozen model's forward timed in the same interleaved rounds
/// (<see cref="PairedRunner.Measure"/>); peak native memory of a step (<see cref="NativeMemory"/>, a child
/// process per method); trainable parameters; checkpoint bytes. Run with
/// <c>--bert [rounds] [--targets qv|all]</c>; <c>--bert --quick</c> runs the tiny shape for 2 rounds without
/// memory probes: for CI, it checks counts and merged outputs and asserts nothing about time.
/// </summary>
public static class BertRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--bert";

    private static readonly string[] Trained = ["lora", "dora", "lily", "clora", "full"];
    private static readonly string[] Mergeable = ["lora", "dora", "lily", "clora"];

    /// <summary>Runs <c>--bert [rounds] [--quick] [--targets qv|all]</c> (parsed by <see cref="BenchOptions.Parse"/>).</summary>
    /// <param name="givenRounds">Interleaved rounds, or null for the default (10).</param>
    /// <param name="quick">CI's smoke run: the tiny shape, 2 rounds, no memory probes.</param>
    /// <param name="givenTargets">The target set (<see cref="TargetSet"/>), or null for <c>qv</c>.</param>
    public static int Run(int? givenRounds, bool quick, string? givenTargets)
    {
        string targets = givenTargets ?? TargetSet.QueryValue;
        int rounds = quick ? 2 : givenRounds ?? 10;
        var size = quick ? BertSize.Tiny : BertSize.MiniLm;
        if (BenchOptions.Current.IsCuda) throw new ArgumentException("--bert measures the CPU (one thread); it takes no --device cuda.");

        string loadBefore = LoadAverage();
        var frozen = BertCase.Create(BertCase.Frozen, size, targets);
        var cases = Trained.Select(id => BertCase.Create(id, size, targets)).ToList();
        var merged = Mergeable.Select(id => BertCase.Create(id, size, targets, merged: true)).ToList();
        CheckCounts(cases);
        CheckMerged(cases, merged);
        Console.Error.WriteLine("bert: cases built, counts and merged outputs checked");

        // Steps and the frozen forward in the same rounds: every ratio is taken within a round.
        var steps = PairedRunner.Measure([frozen.Infer, .. cases.Select(c => (Action)c.Step)], rounds);
        Console.Error.WriteLine("bert: training steps done");
        var inference = PairedRunner.Measure([frozen.Infer, .. cases.Take(Mergeable.Length).Select(c => (Action)c.Infer), .. merged.Select(c => (Action)c.Infer)], rounds);
        Console.Error.WriteLine("bert: inference done");
        string loadAfter = LoadAverage();

        var checkpoints = cases.Select(c => c.CheckpointBytes(AdapterLayout.Peft)).ToList();
        var compact = cases.Select(c => c.CheckpointBytes(AdapterLayout.Compact)).ToList();
        var peaks = quick ? cases.Select(_ => (long?)null).ToList() : cases.Select(c => NativeMemory.PeakBytes("bert", Target(c.Id, targets, size), "step")).ToList();
        long? frozenPeak = quick ? null : NativeMemory.PeakBytes("bert", Target(BertCase.Frozen, targets, size), "infer");
        if (!quick) Console.Error.WriteLine("bert: memory probes done");

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture,
            $"BERT {size.Name}: {size.Config.NumHiddenLayers} layers, hidden {size.Config.HiddenSize}, {size.Config.NumAttentionHeads} heads, FFN {size.Config.IntermediateSize}, vocabulary {size.Config.VocabSize}; " +
            $"batch {size.Batch} × {size.Tokens}; targets {string.Join(",", TargetSet.Modules(targets))}; {rounds} interleaved rounds, {BenchClock.Name}, torch threads {torch.get_num_threads()}, " +
            $"{Environment.ProcessorCount} logical CPUs; load average before {loadBefore}, after {loadAfter}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Method | r | Trainable | Checkpoint (PEFT layout) | Checkpoint (compact) | Step | Step ÷ frozen forward, median [q1, q3] | Step ÷ LoRA step | Peak step memory | Inference unmerged | ÷ frozen | Inference merged | ÷ frozen |");
        report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| frozen (forward only) | – | 0 | – | – | – | – | – | {NativeMemory.Format(frozenPeak)} (forward) | {PairedRunner.Median(inference[0]):F1} ms | 1 | – | – |");
        for (int i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            int m = Array.IndexOf(Mergeable, c.Id);
            string unmerged = m >= 0 ? $"{PairedRunner.Median(inference[1 + m]):F1} ms | {PairedRunner.Ratio(inference[1 + m], inference[0])}" : "= frozen | –";
            string mergedCell = m >= 0 ? $"{PairedRunner.Median(inference[1 + Mergeable.Length + m]):F1} ms | {PairedRunner.Ratio(inference[1 + Mergeable.Length + m], inference[0])}" : "= frozen | –";
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Method!.Label} | {(c.Rank > 0 ? c.Rank.ToString(CultureInfo.InvariantCulture) : "–")} | {c.TrainableElements:N0} | {checkpoints[i]:N0} B | {compact[i]:N0} B | {PairedRunner.Median(steps[1 + i]):F1} ms " +
                $"| {PairedRunner.Ratio(steps[1 + i], steps[0])} | {PairedRunner.Ratio(steps[1 + i], steps[1])} | {NativeMemory.Format(peaks[i])} | {unmerged} | {mergedCell} |");
        }
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Frozen forward: {PairedRunner.Median(steps[0]):F1} ms in the step rounds, {PairedRunner.Median(inference[0]):F1} ms in the inference rounds. " +
            $"Ratios are per round (median [q1, q3]); Lily's and CLoRA's goal is a step within 1.05× LoRA's.");
        Console.WriteLine(report.ToString());

        foreach (var c in cases.Concat(merged).Append(frozen)) c.Dispose();
        return 0;
    }

    /// <summary>The memory probe's side: <paramref name="target"/> is <c>METHOD:TARGETS:SIZE</c>, <paramref name="operation"/> <c>step</c> or <c>infer</c>.</summary>
    public static ProbeTarget ProbeOperation(string target, string operation)
    {
        var parts = target.Split(':');
        var c = BertCase.Create(parts[0], BertSize.Parse(parts[2]), parts[1]);
        return operation switch
        {
            "step" => new ProbeTarget(c.Step, c.ClearGradients),
            "infer" => new ProbeTarget(c.Infer, c.ClearGradients),
            _ => throw new ArgumentException($"Unknown BERT operation '{operation}'; known: step, infer.", nameof(operation)),
        };
    }

    private static string Target(string id, string targets, BertSize size) => $"{id}:{targets}:{size.Key}";

    // Each model trains the count the catalog planned for its method (LoRA's is the budget the others match).
    private static void CheckCounts(IReadOnlyList<BertCase> cases)
    {
        foreach (var c in cases)
            if (c.TrainableElements != c.Method!.Trainable)
                throw new InvalidOperationException($"{c.Method.Label} trains {c.TrainableElements} parameters; the catalog planned {c.Method.Trainable}.");
    }

    // A merged model computes what its unmerged twin (same seed, same adapters) computes: the merged timing is of the same function.
    private static void CheckMerged(IReadOnlyList<BertCase> cases, IReadOnlyList<BertCase> merged)
    {
        foreach (var m in merged)
        {
            var unmerged = cases.Single(c => c.Id == m.Id);
            using var expected = unmerged.Output();
            using var actual = m.Output();
            // Lily's unmerged forward routes per token; its merged twin uses the uniform mixture, so only the shape is compared.
            bool comparable = m.Id != "lily";
            if (comparable && !actual.allclose(expected, rtol: 1e-3, atol: 1e-3))
                throw new InvalidOperationException($"{m.Method!.Label}: the merged model's logits differ from the unmerged model's by {(actual - expected).abs().max().item<float>()}.");
            if (!actual.shape.SequenceEqual(expected.shape))
                throw new InvalidOperationException($"{m.Method!.Label}: merged logits have shape [{string.Join(", ", actual.shape)}].");
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join("/", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
