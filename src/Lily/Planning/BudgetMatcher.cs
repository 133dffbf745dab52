using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Chooses the rank of a LoRA or Lily config (and for Lily, optionally stride_A and num_B from
/// candidate lists) whose trainable count is nearest a parameter budget. Counts come from
/// <see cref="PeftPlan"/>, so they are what injection creates; modules to save are included.
/// </summary>
public static class BudgetMatcher
{
    /// <summary>The largest rank tried unless told otherwise.</summary>
    public const int DefaultMaxRank = 1024;

    /// <summary>
    /// The config nearest <paramref name="budget"/>: the rank from 1 to <paramref name="maxRank"/>,
    /// and for Lily each combination of <paramref name="strideACandidates"/> and
    /// <paramref name="numBCandidates"/> (the base config's values when null). Ties go to the
    /// smaller count, then to the earlier candidate. Other fields (alpha, scaling, targets) are kept.
    /// </summary>
    /// <param name="model">The model the config is for; it is not changed.</param>
    /// <param name="baseConfig">A <see cref="LoraConfig"/> or <see cref="LilyConfig"/>.</param>
    /// <param name="budget">Trainable elements wanted (positive).</param>
    /// <param name="strideACandidates">Lily only: stride_A values to try.</param>
    /// <param name="numBCandidates">Lily only: num_B values to try.</param>
    /// <param name="maxRank">The largest rank tried.</param>
    /// <exception cref="ArgumentException">The config is neither LoRA nor Lily, a candidate is given for LoRA, or the budget or a bound is not positive.</exception>
    public static BudgetMatch Match(nn.Module model, PeftConfig baseConfig, long budget,
        IReadOnlyList<int>? strideACandidates = null, IReadOnlyList<int>? numBCandidates = null, int maxRank = DefaultMaxRank)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        var shapes = baseConfig switch
        {
            LoraConfig lora when strideACandidates is null && numBCandidates is null => [(PeftConfig r) => r],
            LoraConfig => throw new ArgumentException("stride_A and num_B candidates apply to Lily only.", nameof(baseConfig)),
            LilyConfig lily => (from s in strideACandidates ?? [lily.StrideA]
                                from e in numBCandidates ?? [lily.NumB]
                                select (Func<PeftConfig, PeftConfig>)(c => ((LilyConfig)c) with { StrideA = s, NumB = e })).ToList(),
            _ => throw new ArgumentException($"Budget matching knows LoRA and Lily, not {baseConfig.PeftType}.", nameof(baseConfig)),
        };

        BudgetMatch? best = null;
        foreach (var shape in shapes)
        {
            var candidate = BestRank(model, r => shape(WithRank(baseConfig, r)), budget, maxRank);
            if (best is null || Better(candidate, best)) best = candidate;
        }
        return best!;
    }

    /// <summary>The trainable count of <paramref name="config"/> on <paramref name="model"/> (a <see cref="PeftPlan"/>'s total).</summary>
    public static long Count(nn.Module model, PeftConfig config) => PeftPlan.For(model, config).TrainableParameters;

    // The count grows with r (every adapter tensor has r as a dimension), so bisection finds the
    // first rank at or over the budget; the best is it or the rank below.
    private static BudgetMatch BestRank(nn.Module model, Func<int, PeftConfig> configFor, long budget, int maxRank)
    {
        var cache = new Dictionary<int, long>();
        long CountAt(int r) => cache.TryGetValue(r, out long c) ? c : cache[r] = Count(model, configFor(r));

        int lo = 1, hi = maxRank;
        if (CountAt(hi) < budget) lo = hi;
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            if (CountAt(mid) >= budget) hi = mid;
            else lo = mid + 1;
        }
        var candidates = new[] { lo - 1, lo }.Where(r => r >= 1).Select(r => Make(configFor(r), CountAt(r), budget));
        return candidates.Aggregate((a, b) => Better(b, a) ? b : a);
    }

    private static BudgetMatch Make(PeftConfig config, long trainable, long budget) =>
        new(config, trainable, budget, (trainable - budget) / (double)budget);

    private static bool Better(BudgetMatch a, BudgetMatch b)
    {
        long da = Math.Abs(a.Trainable - a.Budget), db = Math.Abs(b.Trainable - b.Budget);
        return da < db || (da == db && a.Trainable < b.Trainable);
    }

    private static PeftConfig WithRank(PeftConfig config, int r) => config switch
    {
        LoraConfig lora => lora with { R = r },
        LilyConfig lily => lily with { R = r },
        _ => throw new ArgumentException($"Budget matching knows LoRA and Lily, not {config.PeftType}.", nameof(config)),
    };
}
