namespace Lily.Analysis;

/// <summary>
/// The singular-value spectrum of one matrix (typically a layer's weight update ΔW) and the rank
/// measures derived from it. Every value was computed in float64; the arrays live on the CPU.
/// </summary>
/// <param name="Rows">Rows m of the matrix.</param>
/// <param name="Columns">Columns n of the matrix.</param>
/// <param name="SingularValues">
/// The min(m, n) singular values in descending order (fewer for a low-rank product analysed
/// through its factors: min(m, n, r); the missing ones are exactly zero).
/// </param>
/// <param name="Tolerance">The absolute threshold a singular value had to exceed to count towards <see cref="NumericalRank"/>.</param>
/// <param name="NumericalRank">How many singular values exceed <see cref="Tolerance"/>.</param>
/// <param name="EffectiveRank">
/// Roy &amp; Vetterli (2007): <c>exp(−Σ pᵢ ln pᵢ)</c> with <c>pᵢ = σᵢ / Σσ</c>; between 1 and the
/// rank for a non-zero matrix, 0 for the zero matrix.
/// </param>
/// <param name="StableRank"><c>‖ΔW‖_F² / σ_max²</c>; between 1 and the rank, 0 for the zero matrix.</param>
/// <param name="FrobeniusNorm"><c>‖ΔW‖_F = √(Σ σᵢ²)</c>.</param>
public sealed record Spectrum(
    long Rows,
    long Columns,
    double[] SingularValues,
    double Tolerance,
    int NumericalRank,
    double EffectiveRank,
    double StableRank,
    double FrobeniusNorm)
{
    /// <summary>The largest singular value (the spectral norm), 0 for an empty spectrum.</summary>
    public double MaxSingularValue => SingularValues.Length == 0 ? 0 : SingularValues[0];

    /// <summary>
    /// Fraction of the squared Frobenius norm carried by the <paramref name="k"/> largest singular
    /// values, <c>Σ_{i&lt;k} σᵢ² / Σ σᵢ²</c>; 1 for the zero matrix (nothing to lose).
    /// </summary>
    /// <param name="k">How many leading singular values to keep; values beyond the spectrum count all of it.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative.</exception>
    public double EnergyFraction(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        return SpectrumMath.EnergyKept(SingularValues, k);
    }
}
