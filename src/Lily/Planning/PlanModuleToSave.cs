namespace Lily.Planning;

/// <summary>A module a <see cref="PeftPlan"/> would train in full (PEFT's <c>modules_to_save</c>).</summary>
/// <param name="Path">The module's full path.</param>
/// <param name="Parameters">Elements of its parameters, each tensor once.</param>
public sealed record PlanModuleToSave(string Path, long Parameters);
