using Lily.Analysis;
using static TorchSharp.torch;

using Lily.FashionMnist;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// Per-layer effective rank of a trained adapter's ΔW (from the factors the method declares, or for
/// Lily at the test-set mean of each layer's expert weights, which are returned too).
/// </summary>
/// <remarks>
/// Lily's ΔW depends on the input through the router, so it is taken at the mixture batch-mean
/// routing uses, averaged over the whole test set: <c>p̄ = mean over every test token of
/// softmax(R A x)</c>, which is the token-weighted mean of <see cref="LilyLinear.MeanRoutingWeights"/>
/// over the test batches. That needs each layer's own input, which only exists inside the forward
/// pass (after the earlier blocks and, for <c>o_proj</c> and <c>fc2</c>, inside the block), so a
/// forward pre-hook on the module standing at the layer's path records it. Hooks fire only through
/// <c>call()</c>; a layer whose hook never fired makes the analysis fail rather than report a
/// made-up mixture.
/// </remarks>
public static class UpdateAnalysis
{
    /// <summary>
    /// Whether every adapted layer's ΔW can be analysed: it declares low-rank factors or is Lily. A DoRA
    /// layer cannot (its update rescales whole rows of W; the library says why in
    /// <see cref="AdapterLinear.NoFactorsReason"/>).
    /// </summary>
    public static bool CanAnalyse(PeftModel<VisionTransformer> peft) =>
        peft.AdaptedModules.All(l => l.Layer is LilyLinear || l.Layer.UpdateFactors() is not null);

    /// <summary>The analysis of every adapted layer of <paramref name="peft"/>, in traversal order.</summary>
    /// <exception cref="NotSupportedException">A layer's ΔW cannot be analysed (see <see cref="CanAnalyse"/>).</exception>
    public static List<LayerAnalysis> Of(PeftModel<VisionTransformer> peft, FashionMnistDataset test, string variant, string method)
    {
        var layers = peft.AdaptedModules.ToList();
        // Methods whose update is a fixed low-rank product declare its factors (LoRA, CLoRA); Lily's
        // depends on the input and is taken at the test-set mean mixture.
        var mixtures = layers.Any(l => l.Layer is LilyLinear) ? TestMixtures(peft, test) : [];
        return layers.Select(l =>
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            if (l.Layer.UpdateFactors() is { } f)
                return new LayerAnalysis(variant, method, l.Path, SpectrumAnalysis.OfLowRankProduct(f.B, f.A, f.Scaling).EffectiveRank, []);
            var lily = l.Layer as LilyLinear
                ?? throw new NotSupportedException($"The ΔW of {l.Path} cannot be analysed: {l.Layer.NoFactorsReason}.");
            var mixture = tensor(mixtures[l.Path], dtype: lily.AdapterDtype);
            double rank = SpectrumAnalysis.OfLilyUpdate(lily.LilyA.weight!, lily.LilyB.Weight, mixture, lily.Scaling).EffectiveRank;
            return new LayerAnalysis(variant, method, l.Path, rank, mixtures[l.Path]);
        }).ToList();
    }

    /// <summary>Each Lily layer's mean expert weights over every token of <paramref name="test"/>.</summary>
    /// <exception cref="InvalidOperationException">A layer never saw an input (its module is not called through <c>call()</c>).</exception>
    public static Dictionary<string, double[]> TestMixtures(PeftModel<VisionTransformer> peft, FashionMnistDataset test, int batchSize = 500)
    {
        var modules = peft.Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var sums = new Dictionary<string, (double[] Sum, long Tokens)>(StringComparer.Ordinal);
        var removers = new List<Action>();
        foreach (var adapted in peft.AdaptedModules)
        {
            if (adapted.Layer is not LilyLinear lily) continue;
            var path = adapted.Path;
            sums[path] = (new double[lily.LilyB.Experts], 0);
            if (modules[path] is not nn.Module<Tensor, Tensor> module)
                throw new InvalidOperationException($"The module at '{path}' is not a Module<Tensor, Tensor>; its input cannot be recorded.");
            var remover = module.register_forward_pre_hook((_, input) =>
            {
                using var scope = NewDisposeScope();
                long tokens = input.numel() / input.shape[^1];
                var mean = lily.MeanRoutingWeights(input).to(ScalarType.Float64).cpu().data<double>().ToArray();
                var (sum, seen) = sums[path];
                for (int e = 0; e < sum.Length; e++) sum[e] += mean[e] * tokens;
                sums[path] = (sum, seen + tokens);
                return input;
            });
            removers.Add(remover.remove);
        }

        bool wasTraining = peft.Model.training;
        peft.Model.eval();
        try
        {
            using var noGrad = no_grad();
            foreach (var (x, _) in test.Batches(batchSize))
            {
                using var scope = NewDisposeScope();
                peft.Model.call(x.to(peft.Model.parameters().First().device));
            }
        }
        finally
        {
            foreach (var remove in removers) remove();
            peft.Model.train(wasTraining);
        }

        var missing = sums.Where(s => s.Value.Tokens == 0).Select(s => s.Key).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"No input reached {string.Join(", ", missing)}: the parent does not call them through call(), so their hooks never fired.");
        return sums.ToDictionary(s => s.Key, s => s.Value.Sum.Select(v => v / s.Value.Tokens).ToArray(), StringComparer.Ordinal);
    }
}
