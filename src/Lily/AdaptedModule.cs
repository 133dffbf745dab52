using Lily.Injection;
using Lily.Tuners;

namespace Lily;

/// <summary>An adapted Linear layer and the active adapter's layer on it.</summary>
/// <param name="Path">The module's full dotted path, e.g. <c>blocks.0.attn.q_proj</c>.</param>
/// <param name="Layer">The active adapter's layer, which refers to the original Linear as <see cref="AdapterLinear.BaseLayer"/>.</param>
/// <param name="Attachment">How the adapters are attached to this layer.</param>
public sealed record AdaptedModule(string Path, AdapterLinear Layer, AdapterAttachment Attachment);
