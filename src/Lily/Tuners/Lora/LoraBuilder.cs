using Microsoft.Extensions.Logging;
using TorchSharp.Modules;

namespace Lily;

/// <summary>Builds one independent <see cref="LoraLinear"/> per matched layer.</summary>
internal sealed class LoraBuilder(LoraConfig config) : AdapterBuilder
{
    private int built;

    /// <inheritdoc />
    public override AdapterLinear Build(string path, Linear baseLayer, torch.ScalarType adapterDtype)
    {
        built++;
        return new LoraLinear(baseLayer, config.R, config.Scaling, config.LoraDropout, config.InitLoraWeights, adapterDtype);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger) =>
        logger.LogInformation("LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}", built, config.R, config.Scaling);
}
