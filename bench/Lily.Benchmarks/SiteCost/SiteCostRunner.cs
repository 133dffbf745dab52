using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Lily.Benchmarks.SiteCost;

/// <summary>
/// The fixed cost of an adapted layer, apart from its arithmetic: a <see cref="TinyChain"/> of
/// <see cref="Sites"/> layers <c>16 → 16</c> on 2 × 2 tokens (products of a few hundred multiply-adds)
/// run frozen, with LoRA written inline (no library), and with the library's LoRA attached by hooks and
/// by replacing wrappers. Timed in interleaved rounds (<see cref="PairedRunner.Measure"/>), each call
/// <see cref="PassesPerCall"/> passes; reported as µs per layer per pass over the frozen chain (per-round
/// difference). Also counted, per layer per pass: managed bytes allocated
/// (<c>GC.GetAllocatedBytesForCurrentThread</c>) and native tensor handles created (TorchSharp's
/// dispose-scope statistics). Run with <c>--sitecost [rounds]</c>.
/// </summary>
public static class SiteCostRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--sitecost";

    /// <summary>Layers in the chain: as many as the 4-block Llama stack adapts.</summary>
    public const int Sites = 28;

    /// <summary>Forward passes per timed call.</summary>
    public const int PassesPerCall = 20;

    private const int Dim = 16;

    /// <summary>Runs and prints a markdown table.</summary>
    public static int Run(int rounds)
    {
        var device = BenchOptions.Current.TorchDevice;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Fixed cost per adapted layer: {Sites} layers {Dim} → {Dim}, input 2 × 2 × {Dim}, {rounds} interleaved rounds of {PassesPerCall} passes, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Pass | Variant | µs per pass | µs per layer over frozen, median [q1, q3] | managed bytes per layer | tensor handles per layer |");
        report.AppendLine("|---|---|---:|---:|---:|---:|");
        var cases = Variants.Select(v => new ChainCase(v.Build(device))).ToList();
        foreach (bool train in new[] { true, false })
        {
            string pass = train ? "forward + backward" : "forward, no_grad";
            var times = PairedRunner.Measure(cases.Select(c => (Action)(() => c.Run(train, PassesPerCall))).ToList(), rounds);
            for (int i = 0; i < cases.Count; i++)
            {
                var (bytes, handles) = cases[i].Count(train);
                var (frozenBytes, frozenHandles) = cases[0].Count(train);
                var perLayer = times[i].Zip(times[0], (t, f) => (t - f) * 1000 / PassesPerCall / Sites).Order().ToList();
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {pass} | {Variants[i].Name} | {PairedRunner.Median(times[i]) * 1000 / PassesPerCall:F1} | {PairedRunner.Quantile(perLayer, 0.5):F2} [{PairedRunner.Quantile(perLayer, 0.25):F2}, {PairedRunner.Quantile(perLayer, 0.75):F2}] " +
                    $"| {(bytes - frozenBytes) / Sites:F0} | {(handles - frozenHandles) / Sites:F1} |");
            }
            Console.Error.WriteLine($"sitecost: {pass} done");
        }
        foreach (var c in cases) c.Dispose();
        report.AppendLine();
        Primitives.Report(report);
        Console.WriteLine(report.ToString());
        return 0;
    }

    private static readonly (string Name, Func<Device, (TinyChain Model, IReadOnlyList<Parameter> Trainable)> Build)[] Variants =
    [
        ("frozen", d => (new TinyChain(Sites, Dim, d), [])),
        ("LoRA inline, into a view of the output", d => Inline(d, Llama.InlineLoraForm.OutputView)),
        ("LoRA inline, on rows", d => Inline(d, Llama.InlineLoraForm.Rows)),
        ("LoRA library, Hook", d => Library(d, AdapterAttachment.Hook)),
        ("LoRA library, Replace", d => Library(d, AdapterAttachment.Replace)),
    ];

    private static (TinyChain, IReadOnlyList<Parameter>) Inline(Device device, Llama.InlineLoraForm form)
    {
        var model = new TinyChain(Sites, Dim, device);
        var config = Budget.Lora(["layers"]);
        return (model, [.. model.AddInlineLora(config.R, config.Scaling, form).parameters()]);
    }

    private static (TinyChain, IReadOnlyList<Parameter>) Library(Device device, AdapterAttachment attachment)
    {
        var model = new TinyChain(Sites, Dim, device);
        var peft = PeftModel.Create(model, Budget.Lora(model.LayerNames), attachment: attachment);
        return (model, peft.TrainableParameters());
    }

    // One variant: the chain, its trainable parameters and a fixed input.
    private sealed class ChainCase((TinyChain Model, IReadOnlyList<Parameter> Trainable) built) : IDisposable
    {
        private readonly TinyChain model = built.Model;
        private readonly IReadOnlyList<Parameter> trainable = built.Trainable;
        private readonly Tensor input = randn(2, 2, Dim).requires_grad_(true);

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
                model.call(input).sum().backward();
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
        }
    }
}
