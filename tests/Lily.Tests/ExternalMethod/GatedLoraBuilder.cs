using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>Builds one independent <see cref="GatedLoraLinear"/> per chosen layer (nothing is shared).</summary>
// begin-snippet: gated-builder
public sealed class GatedLoraBuilder(GatedLoraConfig config) : AdapterBuilder
{
    private int built;

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, Device device, ScalarType adapterDtype)
    {
        built++;
        return new GatedLoraLinear(target.BaseLayer, config.R, config.Scaling, config.GateInit, adapterDtype, device);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger) =>
        logger.LogInformation("Gated LoRA: {Layers} layers adapted with r = {R}, scaling = {Scaling}, gate_init = {Gate}",
            built, config.R, config.Scaling, config.GateInit);
}
// end-snippet
