namespace Lily.Planning;

/// <summary>
/// Layers tied together by shared adapter tensors: two layers are in one group when a chain of
/// shared tensors links them (for Lily: one target type of one shape, tied by its expert pool).
/// The group lists every adapter tensor its layers use, shared or not, so it also tells how many
/// of each there are (for Lily with L layers: ⌈L / stride_A⌉ A's, one pool, L routers).
/// </summary>
/// <param name="Layers">The paths of the group's layers, in traversal order.</param>
/// <param name="Tensors">The adapter tensors of the group's layers, in order of first use.</param>
public sealed record PlanSharingGroup(IReadOnlyList<string> Layers, IReadOnlyList<PlanTensor> Tensors)
{
    /// <summary>How many distinct tensors the group has per name, e.g. <c>lily_A.weight</c> → 3 (three A's), <c>lily_B.weight</c> → 1 (one pool).</summary>
    public IReadOnlyDictionary<string, int> TensorsByName =>
        Tensors.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>Elements of the group's tensors, each once.</summary>
    public long Parameters => Tensors.Sum(t => t.Elements);

    /// <summary>Elements of the group's shared tensors, each once.</summary>
    public long SharedParameters => Tensors.Where(t => t.IsShared).Sum(t => t.Elements);
}
