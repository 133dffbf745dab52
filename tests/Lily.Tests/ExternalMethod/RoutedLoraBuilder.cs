using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>Builds one independent <see cref="RoutedLoraLinear"/> per chosen layer (nothing is shared).</summary>
public sealed class RoutedLoraBuilder(RoutedLoraConfig config) : AdapterBuilder
{
    private int built;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, Device device, ScalarType adapterDtype)
    {
        built++;
        return new RoutedLoraLinear(target.BaseLayer, config.Experts, config.R, config.Scaling, adapterDtype, device);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger) =>
        logger.LogInformation("Routed LoRA: {Layers} layers adapted with {Experts} experts of r = {R}, scaling = {Scaling}",
            built, config.Experts, config.R, config.Scaling);
}
