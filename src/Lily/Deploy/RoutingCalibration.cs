using Lily.Analysis;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Measuring and fixing Lily's routing, the first step of deploying Lily as a plain LoRA: collect each
/// layer's routing over a dataset, take its mean mixture, freeze it (the update becomes one fixed
/// rank-≤r matrix per layer, which merges), then export (<see cref="LoraExport"/>).
/// </summary>
public static class LilyRoutingCalibration
{
    /// <summary>
    /// Runs the model over <paramref name="batches"/> (each moved to the model's device, under
    /// <c>no_grad</c>) and summarises, for every Lily layer of the active adapter, the per-token router
    /// probabilities <c>softmax(R A x)</c> of all the tokens it adapted. The model runs as it is: call
    /// <c>eval()</c> first if it has dropout. Frozen layers are observed too (their routers run for this).
    /// </summary>
    /// <param name="peft">A model whose active adapter is Lily.</param>
    /// <param name="batches">The dataset, one input batch per element.</param>
    /// <returns>The statistics by layer path, in traversal order.</returns>
    /// <exception cref="InvalidOperationException">The active adapter is not Lily, a layer is merged, or a layer saw no token.</exception>
    public static IReadOnlyDictionary<string, RoutingStatistics> CollectRouting<TModel>(this PeftModel<TModel> peft, IEnumerable<Tensor> batches)
        where TModel : nn.Module<Tensor, Tensor> =>
        RoutingCollector.Collect(peft, batches, RoutingCollector.CallModel);

    /// <summary>
    /// As <see cref="CollectRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>, for a model of any
    /// signature: <paramref name="run"/> runs one batch through it (under <c>no_grad</c>, in a dispose scope).
    /// </summary>
    public static IReadOnlyDictionary<string, RoutingStatistics> CollectRouting<TModel, TBatch>(this PeftModel<TModel> peft, IEnumerable<TBatch> batches, Action<TModel, TBatch> run)
        where TModel : nn.Module =>
        RoutingCollector.Collect(peft, batches, run);

    /// <summary>
    /// Each Lily layer's mean mixture over the dataset: the mean over all its tokens of
    /// <c>softmax(R A x)</c>, <c>[E]</c>, by layer path — what <see cref="FreezeRouting{TModel}"/> and
    /// <see cref="LoraExport.ExportAsLora{TModel}"/> take. For a single batch it is exactly the batch-mean
    /// mixture PEFT's Lily computes for that batch.
    /// </summary>
    /// <exception cref="InvalidOperationException">As <see cref="CollectRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>.</exception>
    public static IReadOnlyDictionary<string, double[]> CalibrateRouting<TModel>(this PeftModel<TModel> peft, IEnumerable<Tensor> batches)
        where TModel : nn.Module<Tensor, Tensor> =>
        MeanMixtures(peft.CollectRouting(batches));

    /// <summary>As <see cref="CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>, for a model of any signature.</summary>
    public static IReadOnlyDictionary<string, double[]> CalibrateRouting<TModel, TBatch>(this PeftModel<TModel> peft, IEnumerable<TBatch> batches, Action<TModel, TBatch> run)
        where TModel : nn.Module =>
        MeanMixtures(peft.CollectRouting(batches, run));

    /// <summary>
    /// Freezes every Lily layer of the active adapter at its mixture in <paramref name="mixtures"/>
    /// (see <see cref="LilyLinear.FreezeRouting"/>): forward then uses that fixed mixture, and
    /// <see cref="PeftModel{TModel}.Merge"/> works. All mixtures are checked before any layer changes.
    /// </summary>
    /// <param name="peft">A model whose active adapter is Lily.</param>
    /// <param name="mixtures">A mixture <c>[E]</c> for every Lily layer, by path (e.g. from <see cref="CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>).</param>
    /// <exception cref="ArgumentException">A layer has no mixture, a key names no Lily layer, or a mixture has the wrong length or a non-finite entry.</exception>
    /// <exception cref="InvalidOperationException">The active adapter is not Lily, or a layer is merged.</exception>
    public static void FreezeRouting<TModel>(this PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]> mixtures)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(mixtures);
        var layers = LilyLayers.Of(peft);
        LilyLayers.CheckMixtures(mixtures, layers.Select(l => (l.Path, l.Layer.LilyB.Experts)), nameof(mixtures));
        var missing = layers.Where(l => !mixtures.ContainsKey(l.Path)).Select(l => l.Path).ToList();
        if (missing.Count > 0) throw new ArgumentException($"No mixture for {string.Join(", ", missing)}; every Lily layer of the active adapter needs one.", nameof(mixtures));
        ThrowIfMerged(layers);
        using var scope = NewDisposeScope();
        foreach (var (path, layer) in layers) layer.FreezeRouting(tensor(mixtures[path]));
    }

    /// <summary>Gives every Lily layer of the active adapter back to its router.</summary>
    /// <exception cref="InvalidOperationException">The active adapter is not Lily, or a layer is merged.</exception>
    public static void UnfreezeRouting<TModel>(this PeftModel<TModel> peft) where TModel : nn.Module
    {
        var layers = LilyLayers.Of(peft);
        ThrowIfMerged(layers);
        foreach (var (_, layer) in layers) layer.UnfreezeRouting();
    }

    private static void ThrowIfMerged(IReadOnlyList<(string Path, LilyLinear Layer)> layers)
    {
        if (layers.FirstOrDefault(l => l.Layer.Merged) is { Layer: not null } merged)
            throw new InvalidOperationException($"'{merged.Path}' is merged; call Unmerge() before changing its routing.");
    }

    private static IReadOnlyDictionary<string, double[]> MeanMixtures(IReadOnlyDictionary<string, RoutingStatistics> statistics) =>
        statistics.ToDictionary(s => s.Key, s => s.Value.MeanMixture, StringComparer.Ordinal);
}
