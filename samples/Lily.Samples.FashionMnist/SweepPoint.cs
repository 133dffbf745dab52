namespace Lily.Samples.FashionMnist;

/// <summary>One budget of the sweep: LoRA at a rank, and Lily matched to LoRA's trainable count.</summary>
/// <param name="Variant">Which layers both methods adapt (see <see cref="SweepPlan.Variants"/>).</param>
/// <param name="LoraRank">LoRA's rank, which sets the budget.</param>
/// <param name="Lora">LoRA's config.</param>
/// <param name="Lily">Lily's config at the matched rank, its count and its gap to LoRA's.</param>
public sealed record SweepPoint(string Variant, int LoraRank, LoraConfig Lora, BudgetMatch Lily);
