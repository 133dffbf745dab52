namespace Lily.Planning;

/// <summary>One adapter tensor of a <see cref="PlanSharingGroup"/> and the layers that use it.</summary>
/// <param name="Name">Its name inside the adapter layer, as PEFT names it (<c>lily_A.weight</c>, <c>lily_B.weight</c>, <c>lily_router.weight</c>).</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Elements">Its element count (counted once in the plan's total).</param>
/// <param name="Users">The paths of the layers that use it, in traversal order; more than one means shared.</param>
public sealed record PlanTensor(string Name, IReadOnlyList<long> Shape, long Elements, IReadOnlyList<string> Users)
{
    /// <summary>True when more than one layer uses the tensor.</summary>
    public bool IsShared => Users.Count > 1;
}
