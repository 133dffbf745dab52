namespace Lily.Analysis;

/// <summary>
/// What a router (of Lily, or any routed adapter) did over the tokens a <see cref="RoutingAccumulator"/> saw. Entropies are in nats.
/// </summary>
/// <param name="TokenCount">How many tokens (probability rows) were accumulated.</param>
/// <param name="MeanMixture">The mean expert weights p̄ over all tokens, <c>[E]</c>; sums to 1.</param>
/// <param name="MeanTokenEntropy">
/// The mean over tokens of each token's routing entropy <c>−Σ_e p_e ln p_e</c>: 0 when every token
/// picks one expert, ln E when every token spreads evenly.
/// </param>
/// <param name="MixtureEntropy">The entropy of the mean mixture p̄: how evenly the experts are used overall.</param>
/// <param name="ArgmaxFraction">For each expert, the fraction of tokens whose largest weight it has (ties go to the lowest index); sums to 1.</param>
public sealed record RoutingStatistics(
    long TokenCount,
    double[] MeanMixture,
    double MeanTokenEntropy,
    double MixtureEntropy,
    double[] ArgmaxFraction)
{
    /// <summary>Number of experts E.</summary>
    public int Experts => MeanMixture.Length;

    /// <summary>
    /// <see cref="MixtureEntropy"/> − <see cref="MeanTokenEntropy"/>: the mutual information between
    /// token and expert (≥ 0). Near 0 means the router gives every token the same mixture; near
    /// <see cref="MixtureEntropy"/> means tokens are routed decisively to different experts.
    /// </summary>
    public double MutualInformation => Math.Max(0, MixtureEntropy - MeanTokenEntropy);
}
