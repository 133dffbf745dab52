using Microsoft.Extensions.Logging;

namespace Lily;

/// <summary>Builds one independent <see cref="LoraLinear"/> per matched layer.</summary>
internal sealed class LoraBuilder(LoraConfig config) : AdapterBuilder
{
    private readonly List<(string Path, long Cap)> rankCapped = new();
    private int built;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, torch.Device device, torch.ScalarType adapterDtype)
    {
        built++;
        long cap = Math.Min(target.BaseLayer.in_features, target.BaseLayer.out_features);
        if (config.R > cap) rankCapped.Add((target.Path, cap));
        return new LoraLinear(target.BaseLayer, config.R, config.Scaling, config.LoraDropout, config.InitLoraWeights, adapterDtype, device);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger)
    {
        logger.LogInformation("LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}", built, config.R, config.Scaling);
        if (rankCapped.Count > 0)
        {
            // B·A of a layer cannot have a rank above min(in, out): the rest of r only adds parameters.
            logger.LogWarning("LoRA r = {R} exceeds min(in, out) of {Count} layer(s), so their update's rank is at most that: {Layers}",
                config.R, rankCapped.Count, string.Join(", ", rankCapped.Select(c => $"{c.Path} (effective rank ≤ {c.Cap})")));
        }
    }
}
