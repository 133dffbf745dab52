using Lily.Samples.FashionMnist;

namespace Lily.Benchmarks;

/// <summary>
/// Trainable-parameter budgets: LoRA's count, Lily's count (stride_A = 1, E experts) and the
/// Lily rank that matches a LoRA budget. The counts are the sample's <see cref="BudgetMatcher"/>
/// formulas (which a test checks against the library); <c>TargetGroup</c> is its target type.
/// </summary>
public static class Budget
{
    /// <summary>LoRA's rank in every comparison.</summary>
    public const int LoraRank = 8;

    /// <summary>Lily's number of B experts (PEFT's default num_B).</summary>
    public const int Experts = 2;

    /// <summary>Depth of the stack the layer microbenchmarks' budgets are matched on (ViT-B and most LLMs of this size: 12).</summary>
    public const int StackDepth = 12;

    /// <summary>Largest relative gap allowed between the matched budgets.</summary>
    public const double Tolerance = 0.05;

    /// <summary>LoRA: every layer has its own A <c>[r, d_in]</c> and B <c>[d_out, r]</c>.</summary>
    public static long Lora(TargetGroup g, int r) => BudgetMatcher.LoraCount([g], r);

    /// <summary>
    /// Lily with stride_A = 1: one A <c>[r, d_in]</c> and one router <c>[E, r]</c> per layer, and one pool
    /// <c>[E·r, d_out]</c> for the group: <c>L·d_in·r + E·r·d_out + L·E·r</c>.
    /// </summary>
    public static long Lily(TargetGroup g, int r, int experts = Experts) => BudgetMatcher.LilyCount([g], r, strideA: 1, experts);

    /// <summary>
    /// The Lily rank whose total count over <paramref name="groups"/> is closest to LoRA's at rank
    /// <paramref name="loraRank"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No rank comes within <see cref="Tolerance"/>.</exception>
    public static int MatchedLilyRank(IReadOnlyList<TargetGroup> groups, int loraRank = LoraRank, int experts = Experts)
    {
        long lora = BudgetMatcher.LoraCount(groups, loraRank);
        int best = BudgetMatcher.LilyRankFor(groups, lora, strideA: 1, experts);
        double gap = RelativeGap(groups.Sum(g => Lily(g, best, experts)), lora);
        if (Math.Abs(gap) > Tolerance)
            throw new InvalidOperationException($"No Lily rank matches LoRA r = {loraRank} within {Tolerance:P0} (best r = {best}, off by {gap:P1}).");
        return best;
    }

    /// <summary>(a − b) / b.</summary>
    public static double RelativeGap(long a, long b) => (a - b) / (double)b;

    /// <summary>
    /// The share of a stack's Lily parameters that one layer stands for: its own A and router, and
    /// 1/L of the pool, i.e. <c>d_in·r + E·r·d_out / L + E·r</c>. This is the single-layer
    /// microbenchmark's budget; the layer itself holds the whole pool.
    /// </summary>
    public static double LilyPerLayerShare(long inFeatures, long outFeatures, int r, int layers = StackDepth, int experts = Experts) =>
        inFeatures * (double)r + experts * (double)r * outFeatures / layers + experts * (double)r;
}
