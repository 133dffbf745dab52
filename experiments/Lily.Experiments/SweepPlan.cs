using Lily.FashionMnist;
using Lily.Planning;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// The budgets of the sweep: for each LoRA rank, DoRA's, Lily's and CLoRA's matched configs (library's
/// <see cref="BudgetMatcher"/>).
/// </summary>
public static class SweepPlan
{
    /// <summary>The sweep's variants: which Linear layers of the ViT the methods adapt.</summary>
    public static IReadOnlyDictionary<string, string[]> Variants { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["all-targets"] = FineTuning.Targets,
        // The harder task: only the attention projections, the MLP stays frozen.
        ["attention-only"] = ["q_proj", "k_proj", "v_proj", "o_proj"],
        // Where sharing should pay: 12 blocks of the same width, so each shared tensor serves 3× more layers.
        ["deep-all-targets"] = FineTuning.Targets,
    };

    /// <summary>The ViT depth of each variant: 4 blocks unless listed.</summary>
    public static IReadOnlyDictionary<string, int> Depths { get; } = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["deep-all-targets"] = 12,
    };

    /// <summary>The depth of <paramref name="variant"/>'s ViT.</summary>
    public static int DepthOf(string variant) => Depths.TryGetValue(variant, out int depth) ? depth : 4;

    /// <summary>
    /// One point per LoRA rank in <paramref name="loraRanks"/>: DoRA matched by its rank, Lily matched with <paramref name="strideA"/>
    /// and <paramref name="experts"/>, CLoRA with <paramref name="cloraBases"/> base pairs (SADE weight
    /// <paramref name="sadeWeight"/> for its SADE run; the count does not depend on it).
    /// </summary>
    /// <exception cref="ArgumentException">The variant is unknown.</exception>
    public static List<SweepPoint> For(string variant, IReadOnlyList<int> loraRanks, int strideA, int experts, int cloraBases = 4, double sadeWeight = 0)
    {
        if (!Variants.TryGetValue(variant, out var targets))
            throw new ArgumentException($"Unknown sweep variant '{variant}'; known: {string.Join(", ", Variants.Keys)}.", nameof(variant));
        int depth = DepthOf(variant);
        return loraRanks.Select(r =>
        {
            var lora = FineTuning.LoraConfigFor(r, targets);
            return new SweepPoint(variant, r, lora, FineTuning.MatchLily(lora, targets, strideA, experts, depth),
                FineTuning.MatchCLora(lora, targets, cloraBases, sadeWeight, depth), FineTuning.MatchDora(lora, targets, depth));
        }).ToList();
    }
}
