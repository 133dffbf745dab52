namespace Lily.Analysis;

/// <summary>How far the mean expert mixtures of L routed layers differ, pairwise.</summary>
/// <param name="Matrix">
/// The symmetric <c>[L, L]</c> matrix of Jensen–Shannon divergences in nats (0 on the diagonal,
/// at most ln 2 ≈ 0.693 anywhere).
/// </param>
/// <param name="MeanOffDiagonal">The mean over pairs i ≠ j; 0 when there are fewer than two layers.</param>
public sealed record LayerDivergence(double[,] Matrix, double MeanOffDiagonal)
{
    /// <summary>Number of layers L.</summary>
    public int Layers => Matrix.GetLength(0);
}
