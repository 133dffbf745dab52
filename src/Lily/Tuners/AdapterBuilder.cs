using Microsoft.Extensions.Logging;
using TorchSharp.Modules;

namespace Lily;

/// <summary>
/// Turns matched Linear layers into one method's adapter layers. <see cref="PeftModel.Create{TModel}"/>
/// makes one builder per injection and calls <see cref="Build"/> for the matched layers in the
/// model's traversal order, so a builder can share parts across layers (as Lily does).
/// </summary>
public abstract class AdapterBuilder
{
    /// <summary>Wraps <paramref name="baseLayer"/>, found at <paramref name="path"/>, in an adapter layer.</summary>
    /// <param name="path">The module's full dotted path in the model, e.g. <c>blocks.0.attn.q_proj</c>.</param>
    /// <param name="baseLayer">The frozen layer to adapt.</param>
    /// <param name="adapterDtype">The dtype for the adapter's own parameters.</param>
    public abstract AdapterLinear Build(string path, Linear baseLayer, torch.ScalarType adapterDtype);

    /// <summary>Logs what the builder created (how many layers, shared parts), once, after injection.</summary>
    public abstract void LogSummary(ILogger logger);
}
