namespace Lily.Samples.FashionMnist;

/// <summary>
/// Chooses Lily's rank so its trainable count matches LoRA's. Both counts come from the formulas
/// the library's tests check: LoRA <c>Σ r·(d_in + d_out)</c> over layers; Lily, per target type of
/// L layers, <c>ceil(L/stride_A)·d_in·r + E·r·d_out + L·r·E</c>.
/// </summary>
public static class BudgetMatcher
{
    /// <summary>One target type: its shape and how many layers have it.</summary>
    public readonly record struct TargetType(long InFeatures, long OutFeatures, int Layers);

    /// <summary>LoRA's trainable count at rank <paramref name="r"/>.</summary>
    public static long LoraCount(IEnumerable<TargetType> types, int r) =>
        types.Sum(t => t.Layers * (long)r * (t.InFeatures + t.OutFeatures));

    /// <summary>Lily's trainable count at rank <paramref name="r"/>.</summary>
    public static long LilyCount(IEnumerable<TargetType> types, int r, int strideA, int experts) =>
        types.Sum(t => (t.Layers + strideA - 1) / strideA * t.InFeatures * r + experts * (long)r * t.OutFeatures + (long)t.Layers * r * experts);

    /// <summary>The Lily rank whose count is nearest <paramref name="budget"/>.</summary>
    public static int LilyRankFor(IReadOnlyList<TargetType> types, long budget, int strideA, int experts)
    {
        long perRank = LilyCount(types, 1, strideA, experts);
        int below = (int)Math.Max(1, budget / perRank);
        return Math.Abs(LilyCount(types, below + 1, strideA, experts) - budget) < Math.Abs(LilyCount(types, below, strideA, experts) - budget)
            ? below + 1
            : below;
    }
}
