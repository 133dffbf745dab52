using System.Globalization;
using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// The cost of CLoRA's SADE term, <c>peft.AuxiliaryLoss()</c>, for layers sharing one group: the shared path
/// (each group's Gram blocks once per call, <see cref="AuxiliaryLossContext"/>) against the per-layer path
/// (every layer recomputes its group's Grams, as <c>CLoraSade.Of</c> per layer). Interleaved rounds
/// (<see cref="PairedRunner.Measure"/>), forward alone and forward + backward. Run with <c>--sade [rounds]</c>.
/// </summary>
public static class SadeRunner
{
    /// <summary>The argument that selects this mode.</summary>
    public const string Command = "--sade";

    /// <summary>Measures and prints a markdown table.</summary>
    /// <param name="rounds">Interleaved rounds.</param>
    /// <param name="layers">Layers sharing one group.</param>
    /// <param name="dim">d_in = d_out.</param>
    /// <param name="bases">CLoRA's p.</param>
    /// <param name="rank">CLoRA's r.</param>
    public static int Run(int rounds, int layers = 12, int dim = 512, int bases = 4, int rank = 8)
    {
        const double weight = 0.1;
        manual_seed(0);
        var model = new Stack(layers, dim);
        var peft = PeftModel.Create(model, new CLoraConfig { TargetModules = ["proj"], R = rank, NumBases = bases, SadeWeight = weight, InitWeights = false });
        var adapted = peft.AdaptedModules.Select(a => (CLoraLinear)a.Layer).ToList();
        var parameters = peft.TrainableParameters().ToList();

        Tensor PerLayer()
        {
            Tensor? total = null;
            foreach (var l in adapted)
            {
                var term = CLoraSade.Of(l.D, l.U, l.Q).mul(weight);
                total = total is null ? term : total.add(term);
            }
            return total!;
        }
        using (var check = NewDisposeScope())
        {
            float shared = peft.AuxiliaryLoss().item<float>(), perLayer = PerLayer().item<float>();
            if (shared != perLayer) throw new InvalidOperationException($"The two paths disagree: {shared} vs {perLayer}.");
        }

        Action Variant(Func<Tensor> loss, bool backward) => () =>
        {
            using var scope = NewDisposeScope();
            var value = loss();
            if (!backward) return;
            foreach (var p in parameters) p.grad?.zero_();
            value.backward();
        };
        var variants = new[] { Variant(PerLayer, false), Variant(peft.AuxiliaryLoss, false), Variant(PerLayer, true), Variant(peft.AuxiliaryLoss, true) };
        var times = PairedRunner.Measure(variants, rounds);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"SADE (peft.AuxiliaryLoss()) for {layers} layers sharing one group, d_in = d_out = {dim}, p = {bases}, r = {rank}; {rounds} interleaved rounds, torch threads {get_num_threads()}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC."));
        Console.WriteLine();
        Console.WriteLine("| | per-layer Grams (before) | Grams once per group (after) | after / before (median [q1, q3]) |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var (label, before, after) in new[] { ("forward", 0, 1), ("forward + backward", 2, 3) })
            Console.WriteLine(string.Create(inv, $"| {label} | {PairedRunner.Median(times[before]):F3} ms | {PairedRunner.Median(times[after]):F3} ms | {PairedRunner.Ratio(times[after], times[before])} |"));
        return 0;
    }

    private sealed class Stack : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<Block> blocks;

        public Stack(int depth, int dim) : base(nameof(Stack))
        {
            blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new Block(dim)).ToArray());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            foreach (var b in blocks) x = b.call(x);
            return x;
        }
    }

    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> proj;

        public Block(int dim) : base(nameof(Block))
        {
            proj = nn.Linear(dim, dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => proj.call(x);
    }
}
