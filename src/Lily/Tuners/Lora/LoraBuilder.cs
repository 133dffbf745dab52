using Microsoft.Extensions.Logging;

namespace Lily;

/// <summary>Builds one independent <see cref="LoraLinear"/> per matched layer.</summary>
internal sealed class LoraBuilder(LoraConfig config) : AdapterBuilder
{
    private int built;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, torch.Device device, torch.ScalarType adapterDtype)
    {
        built++;
        return new LoraLinear(target.BaseLayer, config.R, config.Scaling, config.LoraDropout, config.InitLoraWeights, adapterDtype, device, config.UseDora);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger) =>
        logger.LogInformation("LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}{Dora}", built, config.R, config.Scaling, config.UseDora ? ", DoRA" : "");
}
