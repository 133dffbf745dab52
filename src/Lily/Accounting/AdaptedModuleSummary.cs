using Lily.Planning;

namespace Lily.Accounting;

/// <summary>
/// One adapted module and its adapter's parameter counts: a row of <see cref="ParameterSummary.Modules"/> for a
/// model with adapters, and, with the target entry that chose it, of <see cref="PeftPlan.Layers"/> (<see cref="PlanLayer"/>)
/// for a planned one. Both are counted by the same code, so a plan's rows equal the summary's after injection.
/// </summary>
/// <param name="Path">The module's full path.</param>
/// <param name="Method">The adapter layer's type name, e.g. <c>LilyLinear</c>.</param>
/// <param name="InFeatures">Input features of the base layer.</param>
/// <param name="OutFeatures">Output features of the base layer.</param>
/// <param name="OwnParameters">Trainable elements used by this module alone.</param>
/// <param name="SharedParameters">Trainable elements this module uses together with other modules (tensors shared across layers), each counted in full in every row that uses it.</param>
public record AdaptedModuleSummary(string Path, string Method, long InFeatures, long OutFeatures, long OwnParameters, long SharedParameters);
