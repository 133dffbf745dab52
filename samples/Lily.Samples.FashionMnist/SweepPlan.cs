namespace Lily.Samples.FashionMnist;

/// <summary>The budgets of the sweep: for each LoRA rank, Lily's matched config (library's <see cref="BudgetMatcher"/>).</summary>
public static class SweepPlan
{
    /// <summary>The sweep's variants: which Linear layers of the ViT both methods adapt.</summary>
    public static IReadOnlyDictionary<string, string[]> Variants { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["all-targets"] = Experiment.Targets,
        // The harder task: only the attention projections, the MLP stays frozen.
        ["attention-only"] = ["q_proj", "k_proj", "v_proj", "o_proj"],
    };

    /// <summary>One point per LoRA rank in <paramref name="loraRanks"/>, Lily matched with <paramref name="strideA"/> and <paramref name="experts"/>.</summary>
    /// <exception cref="ArgumentException">The variant is unknown.</exception>
    public static List<SweepPoint> For(string variant, IReadOnlyList<int> loraRanks, int strideA, int experts)
    {
        if (!Variants.TryGetValue(variant, out var targets))
            throw new ArgumentException($"Unknown sweep variant '{variant}'; known: {string.Join(", ", Variants.Keys)}.", nameof(variant));
        return loraRanks.Select(r =>
        {
            var lora = Experiment.LoraConfigFor(r, targets);
            return new SweepPoint(variant, r, lora, Experiment.MatchLily(lora, targets, strideA, experts));
        }).ToList();
    }
}
