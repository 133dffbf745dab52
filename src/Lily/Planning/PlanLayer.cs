using Lily.Accounting;

namespace Lily.Planning;

/// <summary>One layer a <see cref="PeftPlan"/> would adapt: its <see cref="AdaptedModuleSummary"/> row and the target entry that chose it.</summary>
/// <param name="Path">The Linear's full dotted path, e.g. <c>blocks.0.attn.q_proj</c>.</param>
/// <param name="InFeatures">Input features of the Linear.</param>
/// <param name="OutFeatures">Output features of the Linear.</param>
/// <param name="TargetEntry">The <c>target_modules</c> entry that chose it (the regex for <c>target_modules</c> as a pattern, the layer's name for <c>all-linear</c>).</param>
/// <param name="Method">The adapter layer's type name, e.g. <c>LoraLinear</c> or <c>LilyLinear</c>.</param>
/// <param name="OwnParameters">Elements of the adapter tensors this layer alone uses (LoRA's A and B, Lily's router).</param>
/// <param name="SharedParameters">Elements of the adapter tensors this layer uses together with other layers (Lily's A and B pool), counted in full for every user.</param>
public sealed record PlanLayer(string Path, long InFeatures, long OutFeatures, string TargetEntry, string Method, long OwnParameters, long SharedParameters)
    : AdaptedModuleSummary(Path, Method, InFeatures, OutFeatures, OwnParameters, SharedParameters);
