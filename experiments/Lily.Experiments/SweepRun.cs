using Lily.FashionMnist;

namespace Lily.Experiments.FashionMnist;

/// <summary>One fine-tuning run of the sweep.</summary>
/// <param name="Variant">Which layers were adapted.</param>
/// <param name="Method"><c>lora</c>, <c>dora</c>, <c>lily</c>, <c>clora</c> or <c>clora-sade</c>.</param>
/// <param name="LoraRank">The LoRA rank that set this run's budget.</param>
/// <param name="Rank">This method's rank.</param>
/// <param name="Seed">The fine-tuning seed.</param>
/// <param name="Trainable">Trainable elements (adapter and the head trained in full).</param>
/// <param name="TestAccuracy">Test accuracy on classes 5–9 after the last epoch.</param>
/// <param name="Seconds">Wall time of the fine-tuning.</param>
public sealed record SweepRun(string Variant, string Method, int LoraRank, int Rank, int Seed, long Trainable, double TestAccuracy, double Seconds);
