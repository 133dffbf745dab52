using Microsoft.Extensions.Logging;

namespace Lily.Tuners;

/// <summary>Builds one independent <see cref="LoraLinear"/> per matched layer.</summary>
internal sealed class LoraBuilder(LoraConfig config) : AdapterBuilder
{
    private int built;
    private int overridden;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, torch.Device device, torch.ScalarType adapterDtype)
    {
        built++;
        int r = config.RankFor(target.Path);
        if (r != config.R || config.AlphaFor(target.Path) != config.LoraAlpha) overridden++;
        // Per-layer rank and alpha from rank_pattern / alpha_pattern, as PEFT resolves them by the layer's full path.
        return new LoraLinear(target.BaseLayer, r, config.ScalingFor(target.Path), config.LoraDropout, config.InitLoraWeights, adapterDtype, device, config.UseDora);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger)
    {
        logger.LogInformation("LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}{Dora}; {Overridden} of them with their own rank or alpha (rank_pattern / alpha_pattern)",
            built, config.R, config.Scaling, config.UseDora ? ", DoRA" : "", overridden);
    }
}
