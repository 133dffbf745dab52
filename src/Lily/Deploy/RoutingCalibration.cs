using Lily.Analysis;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Deploy;

/// <summary>
/// Measuring and fixing the routing of routed adapters (<see cref="IRoutedAdapter"/>: Lily's, or any
/// method's that declares the capability), the first step of deploying one as a plain LoRA: collect each
/// layer's routing over a dataset (<see cref="RoutingCollection"/>), take its mean mixture, freeze it (the
/// update becomes one fixed low-rank matrix per layer, which merges), then export (LoRA's <c>ExportAsLora</c>).
/// </summary>
public static class RoutingCalibration
{
    /// <summary>
    /// Each routed layer's mean mixture over the dataset: the mean over all its tokens of the router's
    /// probabilities (Lily's <c>softmax(R A x)</c>), <c>[E]</c>, by layer path — what <see cref="FreezeRouting{TModel}"/>
    /// and LoRA's <c>ExportAsLora</c> take. For a single batch and Lily it is exactly the batch-mean
    /// mixture PEFT's Lily computes for that batch.
    /// </summary>
    /// <exception cref="InvalidOperationException">As <see cref="RoutingCollection.CollectRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>.</exception>
    public static IReadOnlyDictionary<string, double[]> CalibrateRouting<TModel>(this PeftModel<TModel> peft, IEnumerable<Tensor> batches)
        where TModel : nn.Module<Tensor, Tensor> =>
        MeanMixtures(peft.CollectRouting(batches));

    /// <summary>As <see cref="CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>, for a model of any signature.</summary>
    public static IReadOnlyDictionary<string, double[]> CalibrateRouting<TModel, TBatch>(this PeftModel<TModel> peft, IEnumerable<TBatch> batches, Action<TModel, TBatch> run)
        where TModel : nn.Module =>
        MeanMixtures(peft.CollectRouting(batches, run));

    /// <summary>
    /// Freezes every routed layer of the active adapter at its mixture in <paramref name="mixtures"/>
    /// (see <see cref="IRoutedAdapter.FreezeRouting"/>): forward then uses that fixed mixture, and
    /// <see cref="PeftModel{TModel}.Merge"/> works. All mixtures are checked before any layer changes.
    /// </summary>
    /// <param name="peft">A model whose active adapter has routed layers (Lily, say).</param>
    /// <param name="mixtures">A mixture <c>[E]</c> for every routed layer, by path (e.g. from <see cref="CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>).</param>
    /// <exception cref="ArgumentException">A layer has no mixture, a key names no routed layer, or a mixture has the wrong length or a non-finite entry.</exception>
    /// <exception cref="InvalidOperationException">The active adapter has no routed layers, or a layer is merged.</exception>
    public static void FreezeRouting<TModel>(this PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]> mixtures)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(mixtures);
        var layers = RoutedLayers.Of(peft);
        RoutedLayers.CheckMixtures(mixtures, layers.Select(l => (l.Path, l.Routed.Experts)), nameof(mixtures));
        var missing = layers.Where(l => !mixtures.ContainsKey(l.Path)).Select(l => l.Path).ToList();
        if (missing.Count > 0) throw new ArgumentException($"No mixture for {string.Join(", ", missing)}; every routed layer of the active adapter needs one.", nameof(mixtures));
        ThrowIfMerged(layers);
        using var scope = NewDisposeScope();
        foreach (var (path, _, routed) in layers) routed.FreezeRouting(tensor(mixtures[path]));
    }

    /// <summary>Gives every routed layer of the active adapter back to its router.</summary>
    /// <exception cref="InvalidOperationException">The active adapter has no routed layers, or a layer is merged.</exception>
    public static void UnfreezeRouting<TModel>(this PeftModel<TModel> peft) where TModel : nn.Module
    {
        var layers = RoutedLayers.Of(peft);
        ThrowIfMerged(layers);
        foreach (var (_, _, routed) in layers) routed.UnfreezeRouting();
    }

    private static void ThrowIfMerged(IReadOnlyList<(string Path, AdapterLinear Layer, IRoutedAdapter Routed)> layers)
    {
        if (layers.FirstOrDefault(l => l.Layer.Merged) is { Layer: not null } merged)
            throw new InvalidOperationException($"'{merged.Path}' is merged; call Unmerge() before changing its routing.");
    }

    private static IReadOnlyDictionary<string, double[]> MeanMixtures(IReadOnlyDictionary<string, RoutingStatistics> statistics) =>
        statistics.ToDictionary(s => s.Key, s => s.Value.MeanMixture, StringComparer.Ordinal);
}
