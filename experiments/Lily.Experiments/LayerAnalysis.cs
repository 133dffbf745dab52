using Lily.FashionMnist;

namespace Lily.Experiments.FashionMnist;

/// <summary>One adapted layer after training, for the effective-rank and routing plots.</summary>
/// <param name="Variant">Which layers were adapted.</param>
/// <param name="Method"><c>lora</c>, <c>lily</c>, <c>clora</c> or <c>clora-sade</c>.</param>
/// <param name="Path">The layer's path.</param>
/// <param name="EffectiveRank">Roy &amp; Vetterli's effective rank of the layer's ΔW.</param>
/// <param name="Mixture">Lily: the mean expert weights over the test set (what ΔW was taken at); empty for the other methods.</param>
public sealed record LayerAnalysis(string Variant, string Method, string Path, double EffectiveRank, IReadOnlyList<double> Mixture);
