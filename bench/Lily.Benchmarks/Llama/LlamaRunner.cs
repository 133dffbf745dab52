using System.Globalization;
using System.Text;
using Lily.Planning;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// Adapter overhead against its FLOP share on the <see cref="LlamaStack"/> (issue 17): the frozen stack,
/// LoRA r = 8 and Lily at the <see cref="BudgetMatcher"/>-matched rank, adapters on all seven projections,
/// at 4 blocks and 1 block; a training step and an unmerged inference forward, timed in interleaved rounds
/// (<see cref="PairedRunner.Measure"/>). Each ratio to the frozen stack is taken within a round; the table
/// gives its median, quartiles and range over the rounds, and <c>(ratio − 1) ÷ FLOP share</c> with the
/// share from <see cref="LlamaFlops"/>. Peak native memory of a step with one dispose scope around the whole
/// step against a scope per block follows. Run with <c>--llama [rounds]</c>; <c>--llama --quick</c> runs 2 rounds,
/// no memory probes, and checks the meta device and that each model trains the count its plan says: for CI, it asserts nothing about time.
/// </summary>
public static class LlamaRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--llama";

    private static readonly Adapter[] Adapters = [Adapter.Frozen, Adapter.Lora, Adapter.LilyBatchMean];
    private static readonly int[] Depths = [4, 1];

    // What the timing tables compare: the three of Adapters, then LoRA written inline in the blocks (no library).
    private static readonly (string Name, Func<int, Device, LlamaCase> Create, int Experts)[] Variants =
    [
        (nameof(Adapter.Frozen), (depth, device) => LlamaCase.Create(Adapter.Frozen, depth, device), 0),
        ("LoRA", (depth, device) => LlamaCase.Create(Adapter.Lora, depth, device), 0),
        ("Lily", (depth, device) => LlamaCase.Create(Adapter.LilyBatchMean, depth, device), Budget.Experts),
        ("LoRA inline (view)", (depth, device) => LlamaCase.CreateInline(InlineLoraForm.OutputView, depth, device), 0),
        ("LoRA inline (rows)", (depth, device) => LlamaCase.CreateInline(InlineLoraForm.Rows, depth, device), 0),
        ("LoRA inline (copy)", (depth, device) => LlamaCase.CreateInline(InlineLoraForm.OutputCopy, depth, device), 0),
    ];

    /// <summary>Runs <c>--llama [rounds] [--quick | --tax]</c> (parsed by <see cref="BenchOptions.Parse"/>).</summary>
    /// <param name="givenRounds">Interleaved rounds, or null for the default (15; 20 with <paramref name="taxOnly"/>).</param>
    /// <param name="quick">CI's smoke run: the meta-device and inline checks, 2 rounds.</param>
    /// <param name="taxOnly">The library-tax mode only.</param>
    public static int Run(int? givenRounds, bool quick, bool taxOnly)
    {
        if (taxOnly) return RunTax(givenRounds ?? 20);
        int rounds = quick ? 2 : givenRounds ?? 15;
        if (quick) CheckMeta();
        if (quick) CheckInline(BenchOptions.Current.TorchDevice);
        var device = BenchOptions.Current.TorchDevice;
        var report = new StringBuilder();
        var taxes = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Llama stack (hidden {LlamaSize.Hidden}, MLP {LlamaSize.Intermediate}, {LlamaSize.Heads} heads, batch {LlamaSize.Batch} × {LlamaSize.Tokens}): {rounds} interleaved rounds, device {BenchOptions.Current.Device}, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Blocks | Adapter | r | Trainable | Step | Step × frozen, median [q1, q3] (range) | FLOP share | Overhead ÷ share | Inference | Inference × frozen | FLOP share | Overhead ÷ share |");
        report.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int depth in Depths)
        {
            var cases = Variants.Select(v => v.Create(depth, device)).ToList();
            CheckBudgets(depth, cases);
            var steps = PairedRunner.Measure(cases.Select(c => (Action)c.Step).ToList(), rounds);
            Console.Error.WriteLine($"llama: {depth} blocks, training done");
            var inference = PairedRunner.Measure(cases.Select(c => (Action)c.Infer).ToList(), rounds);
            Console.Error.WriteLine($"llama: {depth} blocks, inference done");
            for (int i = 0; i < cases.Count; i++)
            {
                int experts = Variants[i].Experts;
                double trainShare = LlamaFlops.Share(cases[i].Rank, experts, training: true);
                double inferShare = LlamaFlops.Share(cases[i].Rank, experts, training: false);
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {depth} | {Variants[i].Name} | {cases[i].Rank} | {cases[i].TrainableElements:N0} | {PairedRunner.Median(steps[i]):F1} ms | {Spread(steps[i], steps[0], r => r)} | {trainShare:P2} | {Spread(steps[i], steps[0], r => trainShare > 0 ? (r - 1) / trainShare : 0)} " +
                    $"| {PairedRunner.Median(inference[i]):F1} ms | {Spread(inference[i], inference[0], r => r)} | {inferShare:P2} | {Spread(inference[i], inference[0], r => inferShare > 0 ? (r - 1) / inferShare : 0)} |");
            }
            taxes.AppendLine(CultureInfo.InvariantCulture, $"| {depth} | training step | {Tax(steps, 1)} | {Tax(steps, 3)} | {Tax(steps, 4)} | {Tax(steps, 5)} |");
            taxes.AppendLine(CultureInfo.InvariantCulture, $"| {depth} | inference | {Tax(inference, 1)} | {Tax(inference, 3)} | {Tax(inference, 4)} | {Tax(inference, 5)} |");
            foreach (var c in cases) c.Dispose();
        }
        report.AppendLine();
        report.AppendLine("Overhead over the frozen stack in ms (per-round difference; median [q1, q3]): the library's LoRA (hooks) against LoRA written inline in the blocks (no library).");
        report.AppendLine();
        report.AppendLine("| Blocks | Pass | LoRA (library, hook) | LoRA inline, into a view of the output | LoRA inline, on rows | LoRA inline, into a copy of the output |");
        report.AppendLine("|---:|---|---:|---:|---:|---:|");
        report.Append(taxes);

        if (!quick)
        {
            // How much of a step's overhead is the optimizer rather than the adapter layers: AdamW's step
            // alone, timed in the same rounds as the frozen stack's step.
            report.AppendLine();
            report.AppendLine("| 4 blocks | AdamW step alone | ÷ frozen step, median [q1, q3] (range) |");
            report.AppendLine("|---|---:|---:|");
            var pairs = Adapters.Select(a => LlamaCase.Create(a, 4, device)).ToList();
            foreach (var c in pairs) c.ForwardBackward();
            var times = PairedRunner.Measure(pairs.Select((c, i) => i == 0 ? (Action)c.Step : c.OptimizerStep).ToList(), rounds);
            for (int i = 1; i < pairs.Count; i++)
                report.AppendLine(CultureInfo.InvariantCulture, $"| {Adapters[i]} | {PairedRunner.Median(times[i]):F2} ms | {Spread(times[i], times[0], r => r)} |");
            foreach (var c in pairs) c.Dispose();
            Console.Error.WriteLine("llama: optimizer share done");

            report.AppendLine();
            report.AppendLine("| Peak native memory of a training step (4 blocks) | One scope around the step | A scope per block (in its forward) | A scope per block (forward hooks) |");
            report.AppendLine("|---|---:|---:|---:|");
            foreach (var adapter in Adapters)
            {
                var peaks = Enum.GetValues<StepScope>().Select(s => NativeMemory.Format(NativeMemory.PeakBytes("llama", $"{adapter}:4:{s}", "step")));
                report.AppendLine(CultureInfo.InvariantCulture, $"| {adapter} | {string.Join(" | ", peaks)} |");
            }
        }
        Console.WriteLine(report.ToString());
        return 0;
    }

    // The library's tax alone: 4 blocks, training step and inference, frozen against the library's LoRA and the inline forms.
    private static int RunTax(int rounds)
    {
        var device = BenchOptions.Current.TorchDevice;
        int[] picked = [0, 1, 3, 4, 5];
        var cases = picked.Select(i => Variants[i].Create(4, device)).ToList();
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Llama stack, 4 blocks: {rounds} interleaved rounds, {BenchClock.Name}, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Overhead over the frozen stack in ms, per-round difference, median [q1, q3].");
        report.AppendLine();
        report.AppendLine("| Variant | Training step | Inference |");
        report.AppendLine("|---|---:|---:|");
        var steps = PairedRunner.Measure(cases.Select(c => (Action)c.Step).ToList(), rounds);
        var inference = PairedRunner.Measure(cases.Select(c => (Action)c.Infer).ToList(), rounds);
        for (int k = 0; k < picked.Length; k++)
            report.AppendLine(CultureInfo.InvariantCulture, $"| {Variants[picked[k]].Name} | {(k == 0 ? $"{PairedRunner.Median(steps[0]):F1} ms" : Tax(steps, k))} | {(k == 0 ? $"{PairedRunner.Median(inference[0]):F1} ms" : Tax(inference, k))} |");
        foreach (var c in cases) c.Dispose();
        Console.WriteLine(report.ToString());
        return 0;
    }

    /// <summary>The memory probe's side: <paramref name="target"/> is <c>ADAPTER:DEPTH:SCOPE</c> (a <see cref="StepScope"/>).</summary>
    public static ProbeTarget ProbeOperation(string target)
    {
        var parts = target.Split(':');
        var c = LlamaCase.Create(Enum.Parse<Adapter>(parts[0]), int.Parse(parts[1], CultureInfo.InvariantCulture), BenchOptions.Current.TorchDevice, Enum.Parse<StepScope>(parts[2]));
        return new ProbeTarget(c.Step, c.ClearGradients);
    }

    /// <summary>
    /// Every variant on the meta device: created, a training step's forward and backward run, and every
    /// trainable parameter and the input get a gradient of their own shape.
    /// </summary>
    /// <exception cref="InvalidOperationException">A gradient is missing or misshapen.</exception>
    public static void CheckMeta()
    {
        foreach (var (adapter, scope) in Adapters.SelectMany(a => Enum.GetValues<StepScope>().Select(s => (a, s))))
        {
            using var c = LlamaCase.Create(adapter, 1, META, scope);
            c.Step();
            foreach (var g in c.Gradients())
                if (g is null || g.device.type != DeviceType.META)
                    throw new InvalidOperationException($"{adapter}, {scope} on meta: a gradient is missing or off the meta device.");
            c.Infer();
        }
        foreach (var form in Enum.GetValues<InlineLoraForm>().Where(f => f != InlineLoraForm.UpdateAlone))
        {
            using var c = LlamaCase.CreateInline(form, 1, META);
            c.Step();
            if (c.Gradients().Any(g => g is null || g.device.type != DeviceType.META))
                throw new InvalidOperationException($"LoRA inline ({form}) on meta: a gradient is missing or off the meta device.");
            c.Infer();
        }
        Console.Error.WriteLine("llama: meta device create, forward, backward: ok");
    }

    // The models train what BudgetMatcher planned: LoRA's count is the budget, Lily's the matched count.
    private static void CheckBudgets(int depth, IReadOnlyList<LlamaCase> cases)
    {
        var match = LlamaCase.MatchLily(depth);
        long[] expected = [0, match.Budget, match.Trainable, match.Budget, match.Budget, match.Budget];
        for (int i = 0; i < cases.Count; i++)
            if (cases[i].TrainableElements != expected[i])
                throw new InvalidOperationException($"{Variants[i].Name} on {depth} blocks trains {cases[i].TrainableElements} parameters; the plan says {expected[i]}.");
    }

    /// <summary>
    /// The inline LoRA computes the library's function: with the library LoRA's A and B copied in, both
    /// forms give the library's output to 1e-5 (on meta, where there are no values, only that they run).
    /// </summary>
    /// <exception cref="InvalidOperationException">An inline output differs.</exception>
    public static void CheckInline(Device device)
    {
        using var library = LlamaCase.Create(Adapter.Lora, 1, device);
        using var expected = library.Output();
        foreach (var form in Enum.GetValues<InlineLoraForm>().Where(f => f != InlineLoraForm.UpdateAlone))
        {
            using var inline = LlamaCase.CreateInline(form, 1, device);
            LlamaCase.CopyLora(library, inline);
            using var actual = inline.Output();
            if (device.type != DeviceType.META && !actual.allclose(expected, rtol: 0, atol: 1e-5))
                throw new InvalidOperationException($"LoRA inline ({form}) differs from the library's LoRA by {(actual - expected).abs().max().item<float>()}.");
        }
        Console.Error.WriteLine("llama: inline LoRA computes the library's output: ok");
    }

    // Median [q1, q3] of variant's per-round time minus the frozen stack's (variant 0), in ms.
    private static string Tax(List<double>[] times, int variant)
    {
        var values = times[variant].Zip(times[0], (t, r) => t - r).Order().ToList();
        return string.Create(CultureInfo.InvariantCulture, $"{PairedRunner.Quantile(values, 0.5):F2} [{PairedRunner.Quantile(values, 0.25):F2}, {PairedRunner.Quantile(values, 0.75):F2}]");
    }

    // Median [first quartile, third quartile] (min–max) of the per-round ratios, mapped.
    private static string Spread(List<double> times, List<double> reference, Func<double, double> map)
    {
        var values = times.Zip(reference, (t, r) => map(t / r)).Order().ToList();
        double At(double q) => PairedRunner.Quantile(values, q);
        return string.Create(CultureInfo.InvariantCulture, $"{At(0.5):F3} [{At(0.25):F3}, {At(0.75):F3}] ({values[0]:F2}–{values[^1]:F2})");
    }
}
