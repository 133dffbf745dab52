using System.Globalization;
using System.Text;
using Lily.Injection;
using static TorchSharp.torch;

namespace Lily.Benchmarks.SiteCost;

/// <summary>
/// What an adapted layer costs over the frozen layer, run frozen, with LoRA written inline (no library;
/// each form of <see cref="Llama.InlineLoraForm"/>), and with the library's LoRA attached by hooks and by
/// replacing wrappers: first a <see cref="TinyChain"/> of <see cref="Sites"/> layers <c>16 → 16</c> on
/// 2 × 2 tokens, whose products cost next to nothing, so what is measured is the fixed cost per layer;
/// then one layer at each shape of the Llama stack, on its 2 × 128 tokens, where how the update enters
/// the autograd graph shows. Timed in interleaved rounds (<see cref="PairedRunner.Measure"/>); reported
/// as µs per layer per pass over the frozen layers (per-round difference). Also counted, per layer per pass: managed bytes allocated
/// (<c>GC.GetAllocatedBytesForCurrentThread</c>) and native tensor handles created (TorchSharp's
/// dispose-scope statistics). Run with <c>--sitecost [rounds]</c>.
/// </summary>
public static class SiteCostRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--sitecost";

    /// <summary>Layers in the tiny chain: as many as the 4-block Llama stack adapts.</summary>
    public const int Sites = 28;

    // The shapes: the tiny chain (fixed cost), then one layer at each of the Llama stack's shapes, batch 2 × 128 (graph effects).
    private static readonly (string Title, int Count, int In, int Out, int Tokens, int PassesPerCall)[] Shapes =
    [
        ("28 layers 16 → 16, 2 × 2 tokens", Sites, 16, 16, 2, 20),
        ("1 layer 512 → 512, 2 × 128 tokens", 1, Llama.LlamaSize.Hidden, Llama.LlamaSize.Hidden, Llama.LlamaSize.Tokens, 1),
        ("1 layer 512 → 1376, 2 × 128 tokens", 1, Llama.LlamaSize.Hidden, Llama.LlamaSize.Intermediate, Llama.LlamaSize.Tokens, 1),
        ("1 layer 1376 → 512, 2 × 128 tokens", 1, Llama.LlamaSize.Intermediate, Llama.LlamaSize.Hidden, Llama.LlamaSize.Tokens, 1),
    ];

    /// <summary>Runs and prints a markdown table; <paramref name="tinyOnly"/>: the tiny chain alone.</summary>
    public static int Run(int rounds, bool tinyOnly = false)
    {
        var device = BenchOptions.Current.TorchDevice;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Cost per adapted layer over the frozen layer: {rounds} interleaved rounds, {BenchClock.Name}, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Layers | Pass | Variant | µs per pass | µs per layer over frozen, median [q1, q3] | managed bytes per layer | tensor handles per layer |");
        report.AppendLine("|---|---|---|---:|---:|---:|---:|");
        foreach (var shape in tinyOnly ? Shapes[..1] : Shapes)
        {
            var cases = Variants.Select(v => new ChainCase(v.Build(shape.Count, shape.In, shape.Out, device), shape.Tokens, shape.In)).ToList();
            foreach (bool train in new[] { true, false })
            {
                string pass = train ? "forward + backward" : "forward, no_grad";
                var times = PairedRunner.Measure(cases.Select(c => (Action)(() => c.Run(train, shape.PassesPerCall))).ToList(), rounds);
                var (frozenBytes, frozenHandles) = cases[0].Count(train);
                for (int i = 0; i < cases.Count; i++)
                {
                    var (bytes, handles) = cases[i].Count(train);
                    bool alone = Variants[i].Name.StartsWith("the update alone", StringComparison.Ordinal);
                    var perLayer = times[i].Zip(times[0], (t, f) => (t - (alone ? 0 : f)) * 1000 / shape.PassesPerCall / shape.Count).Order().ToList();
                    report.AppendLine(CultureInfo.InvariantCulture,
                        $"| {shape.Title} | {pass} | {Variants[i].Name} | {PairedRunner.Median(times[i]) * 1000 / shape.PassesPerCall:F1} | {PairedRunner.Quantile(perLayer, 0.5):F2} [{PairedRunner.Quantile(perLayer, 0.25):F2}, {PairedRunner.Quantile(perLayer, 0.75):F2}] " +
                        $"| {(bytes - frozenBytes) / shape.Count:F0} | {(handles - frozenHandles) / shape.Count:F1} |");
                }
                Console.Error.WriteLine($"sitecost: {shape.Title}, {pass} done");
            }
            foreach (var c in cases) c.Dispose();
        }
        report.AppendLine();
        Primitives.Report(report);
        Console.WriteLine(report.ToString());
        return 0;
    }

    private static readonly (string Name, Func<int, int, int, Device, (TinyChain Model, IReadOnlyList<Parameter> Trainable)> Build)[] Variants =
    [
        ("frozen", (n, i, o, d) => (new TinyChain(n, i, o, d), [])),
        ("LoRA inline, into a view of the output", (n, i, o, d) => Inline(n, i, o, d, Llama.InlineLoraForm.OutputView)),
        ("LoRA inline, on rows", (n, i, o, d) => Inline(n, i, o, d, Llama.InlineLoraForm.Rows)),
        ("LoRA inline, into a copy of the output", (n, i, o, d) => Inline(n, i, o, d, Llama.InlineLoraForm.OutputCopy)),
        ("LoRA inline, out of place", (n, i, o, d) => Inline(n, i, o, d, Llama.InlineLoraForm.OutOfPlace)),
        ("the update alone into zeros, no base layer (--levers' measurement; its full time, not over frozen)", (n, i, o, d) => Inline(n, i, o, d, Llama.InlineLoraForm.UpdateAlone)),
        ("LoRA library, Hook", (n, i, o, d) => Library(n, i, o, d, AdapterAttachment.Hook)),
        ("LoRA library, Replace", (n, i, o, d) => Library(n, i, o, d, AdapterAttachment.Replace)),
    ];

    private static (TinyChain, IReadOnlyList<Parameter>) Inline(int count, int dIn, int dOut, Device device, Llama.InlineLoraForm form)
    {
        var model = new TinyChain(count, dIn, dOut, device);
        var config = Budget.Lora(["layers"]);
        var trainable = model.AddInlineLora(config.R, config.Scaling, form).parameters().ToList();
        OffZero(trainable.Where((_, k) => k % 2 == 1));
        return (model, trainable);
    }

    private static (TinyChain, IReadOnlyList<Parameter>) Library(int count, int dIn, int dOut, Device device, AdapterAttachment attachment)
    {
        var model = new TinyChain(count, dIn, dOut, device);
        var peft = PeftModel.Create(model, Budget.Lora(model.LayerNames), attachment: attachment);
        OffZero(model.named_parameters().Where(p => p.name.Contains(".lora_B.", StringComparison.Ordinal)).Select(p => p.parameter));
        return (model, peft.TrainableParameters());
    }

    // B starts at zero; moved off it as after a few steps.
    private static void OffZero(IEnumerable<Parameter> bs)
    {
        using var scope = NewDisposeScope();
        using (no_grad())
            foreach (var b in bs) b.copy_(randn_like(b).mul_(0.01));
    }

    // One variant: the chain, its trainable parameters and a fixed input.
    private sealed class ChainCase((TinyChain Model, IReadOnlyList<Parameter> Trainable) built, int tokens, int dIn) : IDisposable
    {
        private readonly TinyChain model = built.Model;
        private readonly IReadOnlyList<Parameter> trainable = built.Trainable;
        private readonly Tensor input = randn(2, tokens, dIn).requires_grad_(true).DetachFromDisposeScope();
        // A gradient of real values: sum()'s would be one value broadcast (stride 0), which every product in backward would copy first.
        private readonly Tensor upstream = randn(2, tokens, built.Model.OutFeatures).div_(100).DetachFromDisposeScope();

        public void Run(bool train, int passes)
        {
            for (int i = 0; i < passes; i++)
            {
                using var scope = NewDisposeScope();
                if (!train)
                {
                    using (no_grad()) model.call(input);
                    continue;
                }
                foreach (var p in trainable) p.grad = null;
                input.grad = null;
                model.call(input).backward([upstream]);
            }
        }

        // Managed bytes and tensor handles of one pass (the mean of 50, after a warm-up).
        public (double Bytes, double Handles) Count(bool train)
        {
            Run(train, 5);
            var stats = DisposeScopeManager.Statistics.TensorStatistics;
            long handles = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
            long bytes = GC.GetAllocatedBytesForCurrentThread();
            Run(train, 50);
            bytes = GC.GetAllocatedBytesForCurrentThread() - bytes;
            handles = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - handles;
            return (bytes / 50.0, handles / 50.0);
        }

        public void Dispose()
        {
            model.Dispose();
            input.Dispose();
            upstream.Dispose();
        }
    }
}
