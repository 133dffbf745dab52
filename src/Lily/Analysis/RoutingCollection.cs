using Lily.Tuners;
using static TorchSharp.torch;

// In the root namespace, as the deployment steps that build on it are, so that peft.CollectRouting(...)
// needs no extra using where it always worked.
namespace Lily.Analysis;

/// <summary>
/// Observing the routing of the active adapter's routed layers (<see cref="IRoutedAdapter"/>: Lily's, or any
/// method's that declares the capability) over a dataset: what each router did, token by token, summarised
/// per layer. Inspection and routing calibration (in Deploy) build on it.
/// </summary>
public static class RoutingCollection
{
    /// <summary>
    /// Runs the model over <paramref name="batches"/> (each moved to the model's device, under
    /// <c>no_grad</c>) and summarises, for every routed layer of the active adapter, the per-token router
    /// probabilities (Lily's <c>softmax(R A x)</c>) of all the tokens it adapted. The model runs as it is: call
    /// <c>eval()</c> first if it has dropout. Frozen layers are observed too (their routers run for this).
    /// </summary>
    /// <param name="peft">A model whose active adapter has routed layers (Lily, say).</param>
    /// <param name="batches">The dataset, one input batch per element.</param>
    /// <returns>The statistics by layer path, in traversal order.</returns>
    /// <exception cref="InvalidOperationException">The active adapter has no routed layers, a layer is merged, or a layer saw no token.</exception>
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
}
