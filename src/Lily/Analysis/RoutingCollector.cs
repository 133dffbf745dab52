using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Runs the model over a dataset while every routed layer of the active adapter reports its per-token
/// router probabilities (<see cref="IRoutedAdapter.RoutingObserver"/>) to a <see cref="RoutingAccumulator"/> of its own.
/// </summary>
internal static class RoutingCollector
{
    /// <summary>
    /// Statistics per routed layer of the active adapter, in traversal order. <paramref name="run"/> runs
    /// one batch through the model; it is called under <c>no_grad</c> in a dispose scope.
    /// </summary>
    public static IReadOnlyDictionary<string, RoutingStatistics> Collect<TModel, TBatch>(PeftModel<TModel> peft, IEnumerable<TBatch> batches, Action<TModel, TBatch> run)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(run);
        var layers = RoutedLayers.Of(peft);
        if (layers.FirstOrDefault(l => l.Layer.Merged) is { Layer: not null } merged)
            throw new InvalidOperationException($"'{merged.Path}' is merged, so its adapter does not run and its router cannot be observed; call Unmerge() first.");

        var accumulators = layers.Select(l => new RoutingAccumulator(l.Routed.Experts)).ToList();
        var previous = layers.Select(l => l.Routed.RoutingObserver).ToList();
        try
        {
            for (int i = 0; i < layers.Count; i++)
            {
                var accumulator = accumulators[i];
                layers[i].Routed.RoutingObserver = accumulator.Add;
            }
            using var noGrad = no_grad();
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                run(peft.Model, batch);
            }
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++) layers[i].Routed.RoutingObserver = previous[i];
        }

        var silent = layers.Where((_, i) => accumulators[i].TokenCount == 0).Select(l => l.Path).ToList();
        if (silent.Count > 0)
            throw new InvalidOperationException(
                $"No token reached {string.Join(", ", silent)}: the batches were empty, adapters were disabled, or a hooked " +
                "layer's parent calls forward() instead of call() (see AdapterAttachment.Hook).");
        return layers.Select((l, i) => (l.Path, Statistics: accumulators[i].GetStatistics()))
            .ToDictionary(x => x.Path, x => x.Statistics, StringComparer.Ordinal);
    }

    /// <summary>Runs a batch through a model that takes one tensor, moved to the model's device first.</summary>
    public static void CallModel<TModel>(TModel model, Tensor batch) where TModel : nn.Module<Tensor, Tensor>
    {
        ArgumentNullException.ThrowIfNull(batch);
        var device = model.parameters().FirstOrDefault()?.device;
        var input = device is null || batch.device == device ? batch : batch.to(device);
        model.call(input);
    }
}
