using Lily.Tuners;
using Microsoft.Extensions.Logging;

namespace Lily.Distributed;

/// <summary>
/// Finds the active adapter's layers whose routing mixes across the batch
/// (<see cref="IRoutedAdapter.MixesAcrossBatch"/>: Lily's default batch-mean routing, or any routed method
/// that declares it) and warns of them: each rank would mix by the mean over its own part of the batch, so
/// data-parallel training would differ from one process on the whole batch. Found by capability, so a
/// routed method defined outside the library is checked too.
/// </summary>
internal static class BatchRoutingCheck
{
    /// <summary>The paths of the active adapter's layers that mix across the batch, in traversal order.</summary>
    public static IReadOnlyList<string> LayersMixingAcrossBatch<TModel>(PeftModel<TModel> peft) where TModel : torch.nn.Module =>
        peft.AdaptedModules.Where(a => a.Layer is IRoutedAdapter { MixesAcrossBatch: true }).Select(a => a.Path).ToList();

    /// <summary>Logs one warning naming how many layers mix across the batch and the first of them; nothing when none does.</summary>
    public static void Warn<TModel>(PeftModel<TModel> peft, ILogger logger) where TModel : torch.nn.Module
    {
        var batchRouted = LayersMixingAcrossBatch(peft);
        if (batchRouted.Count == 0) return;
        logger.LogWarning(
            "{Count} routed layers mix their experts by the batch mean (for Lily: routing BatchMean, PEFT's default; first: {First}): each rank mixes " +
            "by the mean over its own part of the batch, so training differs from one process on the whole batch. " +
            "Routing per sample or per token (for Lily: PerSample or PerToken) makes data-parallel training equal to one process.",
            batchRouted.Count, batchRouted[0]);
    }
}
