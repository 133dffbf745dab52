using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Looks inside a trained model's active adapter: each layer's update ΔW and its spectrum — from the
/// factors its method declares (<see cref="AdapterLinear.UpdateFactors"/>: LoRA and CLoRA exactly), a routed
/// layer (<see cref="IRoutedAdapter"/>, e.g. Lily's) at a given routing (a mixture per layer, the frozen one,
/// or the mean routing of data) — and, for routed layers on data, each layer's routing statistics and how
/// differently the layers mix the experts. Spectra use the thin low-rank route (<see cref="SpectrumAnalysis.OfLowRankProduct"/>),
/// so no <c>[d_out, d_in]</c> matrix is formed. Runs under <c>no_grad</c>, on the model's device.
/// </summary>
public static class PeftInspection
{
    /// <summary>
    /// Inspects the active adapter: layers with fixed factors (LoRA, CLoRA) exactly; routed layers at <paramref name="mixtures"/>,
    /// or at their frozen mixture for the layers not listed.
    /// </summary>
    /// <param name="peft">The model.</param>
    /// <param name="mixtures">Expert weights <c>[E]</c> by routed layer path; null to use the frozen mixtures.</param>
    /// <param name="relativeTolerance">For each spectrum's numerical rank, as in <see cref="SpectrumAnalysis.Of"/>.</param>
    /// <exception cref="ArgumentException">A routed layer has no mixture given and none frozen, or a mixture does not fit.</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no low-rank factors (<see cref="AdapterLinear.UpdateFactors"/>).</exception>
    public static AdapterInspection Inspect<TModel>(this PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]>? mixtures = null, double? relativeTolerance = null)
        where TModel : nn.Module =>
        Build(peft, mixtures, null, relativeTolerance);

    /// <summary>
    /// Inspects the active adapter with each routed layer at the mean routing of <paramref name="input"/>
    /// (for Lily, the batch-mean mixture PEFT's Lily computes for it; the model runs once). Also returns
    /// the routing statistics of that batch.
    /// </summary>
    /// <exception cref="InvalidOperationException">The active adapter has no routed layers, a layer is merged, or a layer saw no token.</exception>
    public static AdapterInspection Inspect<TModel>(this PeftModel<TModel> peft, Tensor input, double? relativeTolerance = null)
        where TModel : nn.Module<Tensor, Tensor>
    {
        ArgumentNullException.ThrowIfNull(input);
        return peft.Inspect([input], relativeTolerance);
    }

    /// <summary>
    /// Inspects the active adapter with each routed layer at its mean routing over <paramref name="batches"/>
    /// (the mean over all tokens of the router's probabilities, Lily's <c>softmax(R A x)</c>), with its routing statistics.
    /// </summary>
    /// <exception cref="InvalidOperationException">The active adapter has no routed layers, a layer is merged, or a layer saw no token.</exception>
    public static AdapterInspection Inspect<TModel>(this PeftModel<TModel> peft, IEnumerable<Tensor> batches, double? relativeTolerance = null)
        where TModel : nn.Module<Tensor, Tensor> =>
        peft.Inspect(peft.CollectRouting(batches), relativeTolerance);

    /// <summary>
    /// Inspects the active adapter with each routed layer at the mean mixture of its statistics in
    /// <paramref name="routing"/> (from <see cref="RoutingCollection.CollectRouting{TModel, TBatch}"/>
    /// for a model of any signature), which are returned with it.
    /// </summary>
    /// <exception cref="ArgumentException">A routed layer has no statistics and no frozen mixture, or the statistics do not fit.</exception>
    public static AdapterInspection Inspect<TModel>(this PeftModel<TModel> peft, IReadOnlyDictionary<string, RoutingStatistics> routing, double? relativeTolerance = null)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(routing);
        return Build(peft, routing.ToDictionary(r => r.Key, r => r.Value.MeanMixture, StringComparer.Ordinal), routing, relativeTolerance);
    }

    /// <summary>
    /// The update of the active adapter's layer at <paramref name="path"/> as a weight <c>[d_out, d_in]</c>
    /// in the adapter's dtype (a new tensor in the caller's dispose scope): <c>scaling · B A</c> from the
    /// factors the method declares, or a routed layer's at <paramref name="mixture"/> (its frozen mixture when null).
    /// </summary>
    /// <exception cref="ArgumentException">No layer at <paramref name="path"/>, or a routed layer without a mixture.</exception>
    /// <exception cref="NotSupportedException">The layer's method declares no low-rank factors (a DoRA layer, say).</exception>
    public static Tensor DeltaWeight<TModel>(this PeftModel<TModel> peft, string path, double[]? mixture = null) where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        var module = peft.AdaptedModules.FirstOrDefault(m => m.Path == path)
            ?? throw new ArgumentException($"The active adapter has no layer at '{path}'.", nameof(path));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        if (mixture is null && module.Layer is IRoutedAdapter { FrozenMixture: null })
            throw new ArgumentException($"'{path}' is a routed layer whose routing is not frozen: pass a mixture, or freeze it (FreezeRouting).", nameof(mixture));
        var f = LayerFactors.Of(module, mixture is null ? null : new Dictionary<string, double[]> { [path] = mixture });
        return f.B.matmul(f.A).mul_(f.Scaling).MoveToOuterDisposeScope();
    }

    private static AdapterInspection Build<TModel>(PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]>? mixtures,
        IReadOnlyDictionary<string, RoutingStatistics>? routing, double? relativeTolerance)
        where TModel : nn.Module
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var factors = LayerFactors.Of(peft, mixtures, nameof(mixtures));
        string method = peft.Config.PeftType;
        var layers = factors.Select(f => new LayerInspection(
            f.Path,
            method,
            SpectrumAnalysis.OfLowRankProduct(f.B, f.A, f.Scaling, relativeTolerance),
            f.Mixture,
            routing is not null && routing.TryGetValue(f.Path, out var stats) ? stats : null)).ToList();
        return new AdapterInspection(peft.ActiveAdapter!, layers, Divergence(layers));
    }

    // Only between probability vectors: a hand-given mixture need not be one.
    private static LayerDivergence? Divergence(List<LayerInspection> layers)
    {
        var mixtures = layers.Select(l => l.Mixture).ToList();
        if (mixtures.Count == 0 || mixtures.Any(m => m is null)) return null;
        if (mixtures.Any(m => m!.Any(p => p < 0) || Math.Abs(m!.Sum() - 1) > 1e-6)) return null;
        using var scope = NewDisposeScope();
        var rows = tensor(mixtures.SelectMany(m => m!).ToArray(), [mixtures.Count, mixtures[0]!.Length]);
        return MixtureComparison.PairwiseJensenShannon(rows);
    }
}
