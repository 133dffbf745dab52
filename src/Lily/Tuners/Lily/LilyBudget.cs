using Lily.Planning;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// Lily's form of budget matching: <see cref="BudgetMatcher"/>'s search with Lily's size settings
/// <c>stride_A</c> and <c>num_B</c> as named candidate lists. It belongs to Lily, so it lives in Lily's
/// folder; it extends <see cref="BudgetMatcher"/>, so it is called as <c>BudgetMatcher.Match(...)</c>.
/// </summary>
public static class LilyBudget
{
    extension(BudgetMatcher)
    {
        /// <summary>
        /// The config nearest <paramref name="budget"/>: the rank from 1 to <paramref name="maxRank"/>,
        /// and each combination of <paramref name="strideACandidates"/> and <paramref name="numBCandidates"/>
        /// (the settings <c>stride_A</c> and <c>num_B</c>, which Lily declares; the base config's values
        /// when null). Ties go to the smaller count, then to the earlier candidate. Other fields (alpha,
        /// scaling, targets) are kept.
        /// </summary>
        /// <param name="model">The model the config is for; it is not changed.</param>
        /// <param name="baseConfig">A config whose method declares a rank-like setting (Lily, or another method when no Lily candidates are given).</param>
        /// <param name="budget">Trainable elements wanted (positive).</param>
        /// <param name="strideACandidates"><c>stride_A</c> values to try.</param>
        /// <param name="numBCandidates"><c>num_B</c> values to try.</param>
        /// <param name="maxRank">The largest rank tried.</param>
        /// <exception cref="ArgumentException">The method declares no rank-like setting, or not a setting given candidates, or the budget or a bound is not positive.</exception>
        public static BudgetMatch Match(nn.Module model, PeftConfig baseConfig, long budget,
            IReadOnlyList<int>? strideACandidates = null, IReadOnlyList<int>? numBCandidates = null, int maxRank = BudgetMatcher.DefaultMaxRank)
        {
            var candidates = new Dictionary<string, IReadOnlyList<int>>(StringComparer.Ordinal);
            if (strideACandidates is not null) candidates["stride_A"] = strideACandidates;
            if (numBCandidates is not null) candidates["num_B"] = numBCandidates;
            return BudgetMatcher.Match(model, baseConfig, budget, candidates, maxRank);
        }
    }
}
