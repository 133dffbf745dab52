using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// Turns chosen Linear layers into one method's adapter layers. Injection makes one builder per
/// adapter and calls <see cref="Build"/> for the chosen layers in the model's traversal order, so a
/// builder can share parts across layers (as Lily does). Planning uses the same builder on the
/// <c>meta</c> device, so what a plan counts is what injection creates.
/// </summary>
public abstract class AdapterBuilder
{
    /// <summary>Creates the adapter layer for <paramref name="target"/>.</summary>
    /// <param name="target">The layer to adapt and the entry that chose it.</param>
    /// <param name="device">Where the adapter's parameters live (the base layer's device, or <c>meta</c> when planning).</param>
    /// <param name="adapterDtype">The dtype for the adapter's own parameters.</param>
    public abstract AdapterLinear Build(AdapterTarget target, Device device, ScalarType adapterDtype);

    /// <summary>Logs what the builder created (how many layers, shared parts), once, after injection.</summary>
    public abstract void LogSummary(ILogger logger);
}
