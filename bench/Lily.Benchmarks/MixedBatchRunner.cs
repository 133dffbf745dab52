using System.Globalization;
using System.Text;
using Lily.FashionMnist;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// What a mixed-adapter batch (<see cref="PeftModel{TModel}.UseAdapterPerSample"/>) costs at inference,
/// on the training benchmark's ViT (<see cref="TinyVitSize"/>, batch 16) carrying four adapters of one
/// method on q/k/v/o/fc1/fc2: one adapter for the whole batch against the same batch mixed (all one
/// adapter; four adapters, four samples each) and against serving the four adapters' samples as four
/// small batches one after another. Also DoRA against LoRA, one adapter per batch. Timed in interleaved
/// rounds (<see cref="PairedRunner"/>); run with <c>--mixed [rounds]</c>.
/// </summary>
public static class MixedBatchRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--mixed";

    private const int Adapters = 4;

    /// <summary>Runs the comparisons and prints markdown tables.</summary>
    /// <param name="rounds">Rounds per comparison.</param>
    public static int Run(int rounds)
    {
        var device = BenchOptions.Current.TorchDevice;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Mixed-adapter batches: {rounds} interleaved rounds, device {BenchOptions.Current.Device}, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine(CultureInfo.InvariantCulture, $"Inference forward (eval, no_grad) of the ViT, batch {TinyVitSize.Batch}, {Adapters} adapters on q/k/v/o/fc1/fc2.");
        report.AppendLine();
        report.AppendLine("| Method | Variant | Median time | x one adapter per batch (median [q1, q3]) |");
        report.AppendLine("|---|---|---:|---:|");
        foreach (var method in new[] { Adapter.Lora, Adapter.LilyBatchMean })
        {
            using var served = Served.Create(method, device);
            var variants = served.Variants();
            var times = PairedRunner.Measure(variants.Select(v => v.Run).ToList(), rounds);
            for (int i = 0; i < variants.Count; i++)
                report.AppendLine(CultureInfo.InvariantCulture, $"| {method} | {variants[i].Name} | {PairedRunner.Median(times[i]):F2} ms | {PairedRunner.Ratio(times[i], times[0])} |");
            Console.Error.WriteLine($"mixed: {method} done");
        }

        report.AppendLine();
        report.AppendLine("| One adapter per batch | Median time | x LoRA (median [q1, q3]) |");
        report.AppendLine("|---|---:|---:|");
        using (var lora = Served.Create(Adapter.Lora, device, adapters: 1))
        using (var dora = Served.Create(Adapter.Lora, device, adapters: 1, dora: true))
        {
            var times = PairedRunner.Measure([lora.OneAdapter, dora.OneAdapter], rounds);
            report.AppendLine(CultureInfo.InvariantCulture, $"| LoRA r = {Budget.LoraRank} | {PairedRunner.Median(times[0]):F2} ms | 1 |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| DoRA r = {Budget.LoraRank} | {PairedRunner.Median(times[1]):F2} ms | {PairedRunner.Ratio(times[1], times[0])} |");
        }
        Console.WriteLine(report.ToString());
        return 0;
    }

    // The ViT with `adapters` adapters of one method (default, a1, a2, …), every B random, in eval mode.
    private sealed class Served : IDisposable
    {
        private readonly VisionTransformer model;
        private readonly PeftModel<VisionTransformer> peft;
        private readonly Tensor images;

        private Served(VisionTransformer model, PeftModel<VisionTransformer> peft, Tensor images)
        {
            this.model = model;
            this.peft = peft;
            this.images = images;
        }

        public static Served Create(Adapter method, Device device, int adapters = Adapters, bool dora = false)
        {
            manual_seed(99);
            var model = TinyVitSize.Create(device);
            PeftConfig config = method == Adapter.Lora
                ? Budget.Lora(TinyVitSize.TargetModules) with { UseDora = dora }
                : new LilyConfig { TargetModules = TinyVitSize.TargetModules, R = TinyVitCase.RankOf(method), NumB = Budget.Experts, StrideA = 1, Routing = LayerCase.RoutingOf(method) };
            var peft = PeftModel.Create(model, config);
            for (int i = 1; i < adapters; i++) peft.AddAdapter($"a{i}", config);
            using (no_grad())
            {
                foreach (var (name, p) in model.named_parameters())
                    if (name.Contains(".lora_B.", StringComparison.Ordinal) || name.Contains(".lily_B.", StringComparison.Ordinal))
                        p.copy_(randn_like(p).mul_(0.01));
            }
            model.eval();
            var images = randn([TinyVitSize.Batch, TinyVitSize.Channels, TinyVitSize.ImageSize, TinyVitSize.ImageSize], device: device);
            return new Served(model, peft, images);
        }

        private IReadOnlyList<string> Names => peft.AdapterNames;

        public void OneAdapter() => Forward(images);

        public IReadOnlyList<(string Name, Action Run)> Variants()
        {
            var allFirst = Enumerable.Repeat(Names[0], TinyVitSize.Batch).ToList();
            var roundRobin = Enumerable.Range(0, TinyVitSize.Batch).Select(i => Names[i % Names.Count]).ToList();
            var sorted = roundRobin.Order(StringComparer.Ordinal).ToList();
            return
            [
                ("one adapter per batch", OneAdapter),
                ("mixed, all samples one adapter", () => Mixed(allFirst)),
                ($"mixed, {Names.Count} adapters x {TinyVitSize.Batch / Names.Count} samples, interleaved", () => Mixed(roundRobin)),
                ($"mixed, {Names.Count} adapters x {TinyVitSize.Batch / Names.Count} samples, grouped", () => Mixed(sorted)),
                ($"{Names.Count} batches of {TinyVitSize.Batch / Names.Count}, one per adapter", SubBatches),
            ];
        }

        private void Mixed(IReadOnlyList<string> names)
        {
            using var perSample = peft.UseAdapterPerSample(names);
            Forward(images);
        }

        // What a server does without mixed batches: each adapter's samples as a batch of their own.
        private void SubBatches()
        {
            int size = TinyVitSize.Batch / Names.Count;
            for (int i = 0; i < Names.Count; i++)
            {
                peft.SetAdapter(Names[i]);
                Forward(images[(i * size)..((i + 1) * size)]);
            }
            peft.SetAdapter(Names[0]);
        }

        private void Forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.call(x);
            BenchOptions.Current.Synchronize();
        }

        public void Dispose()
        {
            model.Dispose();
            images.Dispose();
        }
    }
}
