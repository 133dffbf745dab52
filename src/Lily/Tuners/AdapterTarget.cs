using TorchSharp.Modules;

namespace Lily.Tuners;

/// <summary>A Linear layer chosen for adaptation, and the target entry that chose it.</summary>
/// <param name="Path">The layer's full dotted path, e.g. <c>blocks.0.attn.q_proj</c>.</param>
/// <param name="BaseLayer">The layer itself.</param>
/// <param name="TargetEntry">
/// The <c>target_modules</c> entry that matched (the last one, as PEFT's Lily grouping takes it), the
/// pattern itself for a regex, or the layer's own name for <c>all-linear</c>. Methods that share parts
/// across layers group by it.
/// </param>
public sealed record AdapterTarget(string Path, Linear BaseLayer, string TargetEntry);
