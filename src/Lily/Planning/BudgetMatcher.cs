using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Planning;

/// <summary>
/// Chooses the rank of a config (and optionally other size settings from candidate lists) whose
/// trainable count is nearest a parameter budget, for any method that declares a rank-like setting
/// (<see cref="PeftConfig.RankKnob"/>: LoRA's, Lily's and CLoRA's <c>r</c>) and its other size
/// settings (<see cref="PeftConfig.ShapeKnobs"/>). Counts come from <see cref="PeftPlan"/>, so they
/// are what injection creates; modules to save are included. A method may add an overload with its own
/// settings as named parameters from its folder (Lily's <c>strideACandidates</c>, <c>numBCandidates</c>).
/// </summary>
public static class BudgetMatcher
{
    /// <summary>The largest rank tried unless told otherwise.</summary>
    public const int DefaultMaxRank = 1024;

    /// <summary>
    /// The config nearest <paramref name="budget"/>: the rank-like setting from 1 to
    /// <paramref name="maxRank"/>, and each combination of the <paramref name="candidates"/> for the
    /// method's other size settings (by file name, e.g. <c>"num_bases"</c> for CLoRA). Ties go to the
    /// smaller count, then to the earlier candidate.
    /// </summary>
    /// <param name="model">The model the config is for; it is not changed.</param>
    /// <param name="baseConfig">A config whose method declares a rank-like setting.</param>
    /// <param name="budget">Trainable elements wanted (positive).</param>
    /// <param name="candidates">Values to try, by setting name; each name one of the method's <see cref="PeftConfig.ShapeKnobs"/>. Null or empty: the base config's values.</param>
    /// <param name="maxRank">The largest rank tried.</param>
    /// <exception cref="ArgumentException">The method declares no rank-like setting, or a candidate names a setting it does not declare, or the budget or a bound is not positive.</exception>
    public static BudgetMatch Match(nn.Module model, PeftConfig baseConfig, long budget,
        IReadOnlyDictionary<string, IReadOnlyList<int>>? candidates = null, int maxRank = DefaultMaxRank)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseConfig);
        candidates ??= new Dictionary<string, IReadOnlyList<int>>();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budget);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        var rank = baseConfig.RankKnob
            ?? throw new ArgumentException($"Budget matching needs a rank-like setting, and {baseConfig.PeftType} declares none (PeftConfig.RankKnob).", nameof(baseConfig));
        var unknown = candidates.Keys.Where(k => !baseConfig.ShapeKnobs.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"Candidates for {string.Join(", ", unknown)} do not apply to {baseConfig.PeftType}, whose size settings besides '{rank}' are: {string.Join(", ", baseConfig.ShapeKnobs.DefaultIfEmpty("none"))}.",
                nameof(candidates));

        // Every combination of the candidates, in the order given (the first knob varies slowest).
        IEnumerable<PeftConfig> shapes = [baseConfig];
        foreach (var (knob, values) in candidates)
            shapes = shapes.SelectMany(c => values.Select(v => c.WithKnob(knob, v))).ToList();

        BudgetMatch? best = null;
        foreach (var shape in shapes)
        {
            var candidate = BestRank(model, r => shape.WithKnob(rank, r), budget, maxRank);
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
}
