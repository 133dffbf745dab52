using Microsoft.Extensions.Logging;

namespace Lily;

/// <summary>Builds one independent <see cref="LoraLinear"/> per matched layer.</summary>
internal sealed class LoraBuilder(LoraConfig config) : AdapterBuilder
{
    private readonly List<(string Path, int R, long Cap)> rankCapped = new();
    private int built;
    private int overridden;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, torch.Device device, torch.ScalarType adapterDtype)
    {
        built++;
        int r = config.RankFor(target.Path);
        if (r != config.R || config.AlphaFor(target.Path) != config.LoraAlpha) overridden++;
        long cap = Math.Min(target.BaseLayer.in_features, target.BaseLayer.out_features);
        if (r > cap) rankCapped.Add((target.Path, r, cap));
        // Per-layer rank and alpha from rank_pattern / alpha_pattern, as PEFT resolves them by the layer's full path.
        return new LoraLinear(target.BaseLayer, r, config.ScalingFor(target.Path), config.LoraDropout, config.InitLoraWeights, adapterDtype, device, config.UseDora);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger)
    {
        logger.LogInformation("LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}{Dora}; {Overridden} of them with their own rank or alpha (rank_pattern / alpha_pattern)",
            built, config.R, config.Scaling, config.UseDora ? ", DoRA" : "", overridden);
        if (rankCapped.Count > 0)
        {
            // B·A of a layer cannot have a rank above min(in, out): the rest of r only adds parameters.
            logger.LogWarning("LoRA rank exceeds min(in, out) of {Count} layer(s), so their update's rank is at most that: {Layers}",
                rankCapped.Count, string.Join(", ", rankCapped.Select(c => $"{c.Path} (r = {c.R}, effective rank ≤ {c.Cap})")));
        }
    }
}
