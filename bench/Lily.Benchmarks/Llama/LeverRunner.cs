using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// Micro-benchmarks of the levers of issue 17 that are local to the adapter layers, on the rows of the
/// <see cref="LlamaStack"/> (<c>N = 2 · 128</c> tokens, d = 512, MLP 1376), written as plain tensor code
/// so that each alternative is timed against the library's current formulation on equal terms:
/// the <c>Bᵀ</c> copy of LoRA's forward, odd against aligned ranks, Lily's routing path, and the potential
/// of one down-projection for adapters that read the same input (q/k/v). Every variant adds the adapter's
/// update into a base-output-sized buffer and, for "train", runs backward of a fixed upstream gradient
/// into the input and the adapter weights. Interleaved rounds; ratios to the first variant of each group.
/// Run with <c>--levers [rounds] [group name part]</c>.
/// </summary>
public static class LeverRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--levers";

    private const long Rows = LlamaSize.Batch * LlamaSize.Tokens;
    private const int Experts = 2;

    /// <summary>Runs every group whose name contains <paramref name="filter"/> (all when null) and prints a markdown table.</summary>
    public static int Run(int rounds, string? filter = null)
    {
        only = filter;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Adapter levers on {Rows} rows: {rounds} interleaved rounds, torch threads {torch.get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        report.AppendLine();
        report.AppendLine("| Group | Variant | Median | × first, median [min, max] |");
        report.AppendLine("|---|---|---:|---:|");
        foreach (bool train in new[] { true, false })
        {
            string mode = train ? "train" : "infer";
            foreach (long dOut in new long[] { LlamaSize.Hidden, LlamaSize.Intermediate })
            {
                Group(report, $"LoRA r 8, 512→{dOut}, {mode}", rounds, train,
                [
                    ("addmm_ with Bᵀ contiguous (LoRA: training path)", w => Lora(w, dOut, 8, BLayout.Contiguous)),
                    ("addmm_ with Bᵀ as a view (LoRA: path with no graph)", w => Lora(w, dOut, 8, BLayout.View)),
                    ("add_ of linear(h, B)", w => Lora(w, dOut, 8, BLayout.Linear)),
                ]);
                Group(report, $"LoRA r 8 down-projection A, 512→{dOut}, {mode}", rounds, train,
                [
                    ("linear(x, A) (current)", w => Lora(w, dOut, 8, BLayout.Contiguous)),
                    ("mm with Aᵀ contiguous", w => Lora(w, dOut, 8, BLayout.AContiguous)),
                ]);
                Group(report, $"LoRA rank, 512→{dOut}, {mode}", rounds, train,
                    [.. new[] { 8, 11, 12, 16 }.Select(r => ($"r {r}", (Func<Workspace, Func<Tensor>>)(w => Lora(w, dOut, r, BLayout.Contiguous)))),
                     ("r 11 computed at 16 (A, Bᵀ padded with zero rows)", w => Lora(w, dOut, 11, BLayout.Padded))]);
                Group(report, $"Lily r 11, E 2, 512→{dOut}, {mode}", rounds, train,
                [
                    ("current routing path", w => Lily(w, dOut, 11, Routing.Current)),
                    ("no routing (LoRA at r 11): the floor", w => Lora(w, dOut, 11, BLayout.Contiguous)),
                    ("E = 2 as a sigmoid of one logit difference", w => Lily(w, dOut, 11, Routing.Sigmoid)),
                    ("mix by broadcast multiply and sum", w => Lily(w, dOut, 11, Routing.BroadcastMix)),
                ]);
            }
            Group(report, $"q/k/v down-projections, r 8, {mode}", rounds, train,
            [
                ("three products (current)", w => Down(w, 3, 8, fused: false)),
                ("one product of the three A stacked", w => Down(w, 3, 8, fused: true)),
            ]);
            Group(report, $"gate/up down-projections, r 8, {mode}", rounds, train,
            [
                ("two products (current)", w => Down(w, 2, 8, fused: false)),
                ("one product of the two A stacked", w => Down(w, 2, 8, fused: true)),
            ]);
            Group(report, $"q/k/v down-projections, r 11, {mode}", rounds, train,
            [
                ("three products (current)", w => Down(w, 3, 11, fused: false)),
                ("one product of the three A stacked", w => Down(w, 3, 11, fused: true)),
            ]);
        }
        Console.WriteLine(report.ToString());
        return 0;
    }

    private static string? only;

    private enum BLayout { Contiguous, View, Linear, Padded, AContiguous }

    private enum Routing { Current, Sigmoid, BroadcastMix }

    // Builds each variant's tensors once; each call of the returned function runs one forward, and the
    // group runner adds backward for training.
    private static void Group(StringBuilder report, string name, int rounds, bool train, (string Name, Func<Workspace, Func<Tensor>> Build)[] variants)
    {
        if (only is not null && !name.Contains(only, StringComparison.Ordinal)) return;
        var spaces = variants.Select(_ => new Workspace()).ToList();
        var forwards = variants.Select((v, i) => v.Build(spaces[i])).ToList();
        var actions = forwards.Select((f, i) => (Action)(() => spaces[i].Run(f, train))).ToList();
        var times = PairedRunner.Measure(actions, rounds);
        for (int i = 0; i < variants.Length; i++)
        {
            var ratios = times[i].Zip(times[0], (t, r) => t / r).Order().ToList();
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {variants[i].Name} | {PairedRunner.Median(times[i]) * 1000:F0} µs | {PairedRunner.Median(ratios):F3} [{ratios[0]:F3}, {ratios[^1]:F3}] |");
        }
        foreach (var s in spaces) s.Dispose();
        Console.Error.WriteLine($"levers: {name} done");
    }

    private static Func<Tensor> Lora(Workspace w, long dOut, int r, BLayout layout)
    {
        var x = w.Input(LlamaSize.Hidden);
        var a = w.Weight(r, LlamaSize.Hidden);
        var b = w.Weight(dOut, r);
        w.Upstream(dOut);
        return () =>
        {
            var result = zeros(Rows, dOut, device: x.device);
            if (layout == BLayout.Padded)
            {
                int pad = (r + 7) / 8 * 8 - r;
                var hp = nn.functional.linear(x, cat([a, zeros(pad, LlamaSize.Hidden, device: x.device)], 0));
                return result.addmm_(hp, cat([b.t(), zeros(pad, dOut, device: x.device)], 0));
            }
            var h = layout == BLayout.AContiguous ? x.mm(a.t().contiguous()) : nn.functional.linear(x, a);
            return layout switch
            {
                BLayout.Contiguous or BLayout.AContiguous => result.addmm_(h, b.t().contiguous()),
                BLayout.View => result.addmm_(h, b.t()),
                _ => result.add_(nn.functional.linear(h, b)),
            };
        };
    }

    private static Func<Tensor> Lily(Workspace w, long dOut, int r, Routing routing)
    {
        var x = w.Input(LlamaSize.Hidden);
        var a = w.Weight(r, LlamaSize.Hidden);
        var router = w.Weight(Experts, r);
        var pool = w.Weight(Experts * r, dOut);
        w.Upstream(dOut);
        return () =>
        {
            var result = zeros(Rows, dOut, device: x.device);
            var h = nn.functional.linear(x, a);
            Tensor right;
            switch (routing)
            {
                case Routing.Current:
                    var pBar = nn.functional.linear(h, router).t().softmax(0).mean([1]);
                    right = pBar.reshape(-1, Experts).matmul(pool.view(Experts, r * dOut)).view(r, dOut);
                    break;
                case Routing.Sigmoid:
                    // softmax over two logits is sigmoid of their difference.
                    var p1 = h.matmul(router[1] - router[0]).sigmoid().mean();
                    var pools = pool.view(Experts, r, dOut);
                    right = pools[0] + (pools[1] - pools[0]) * p1;
                    break;
                default:
                    var mean = nn.functional.linear(h, router).t().softmax(0).mean([1]);
                    right = (pool.view(Experts, r, dOut) * mean.view(Experts, 1, 1)).sum([0L]);
                    break;
            }
            return result.addmm_(h, right);
        };
    }

    private static Func<Tensor> Down(Workspace w, int sites, int r, bool fused)
    {
        var x = w.Input(LlamaSize.Hidden);
        var downs = Enumerable.Range(0, sites).Select(_ => w.Weight(r, LlamaSize.Hidden)).ToArray();
        w.Upstream(sites * r);
        return () =>
        {
            var hs = fused
                ? nn.functional.linear(x, cat(downs, 0)).split(r, 1)
                : downs.Select(a => nn.functional.linear(x, a)).ToArray();
            // Whatever follows consumes each h on its own; here they are laid side by side for one backward.
            return cat(hs, 1);
        };
    }

    // The leaves and the upstream gradient of one variant.
    private sealed class Workspace : IDisposable
    {
        private readonly List<Tensor> leaves = [];
        private Tensor? upstream;

        private static Device Device => BenchOptions.Current.TorchDevice;

        public Tensor Input(long d) => Leaf(randn(Rows, d, device: Device));

        public Tensor Weight(long rows, long cols) => Leaf(randn(rows, cols, device: Device).div_(Math.Sqrt(cols)));

        public void Upstream(long d) => upstream = randn(Rows, d, device: Device).DetachFromDisposeScope();

        private Tensor Leaf(Tensor t)
        {
            var leaf = t.requires_grad_(true).DetachFromDisposeScope();
            leaves.Add(leaf);
            return leaf;
        }

        public void Run(Func<Tensor> forward, bool train)
        {
            using var scope = NewDisposeScope();
            if (!train)
            {
                using (no_grad()) forward();
            }
            else
            {
                foreach (var l in leaves) l.grad = null;
                forward().backward([upstream!]);
            }
            BenchOptions.Current.Synchronize();
        }

        public void Dispose()
        {
            foreach (var l in leaves) l.Dispose();
            upstream?.Dispose();
        }
    }
}
