using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>Scalar formulas on a descending array of singular values, shared by the analyses.</summary>
internal static class SpectrumMath
{
    /// <summary>Builds the <see cref="Spectrum"/> record from singular values already on the CPU.</summary>
    public static Spectrum Build(long rows, long columns, double[] singularValues, double tolerance)
    {
        double max = singularValues.Length == 0 ? 0 : singularValues[0];
        double squares = singularValues.Sum(s => s * s);
        int rank = singularValues.Count(s => s > tolerance);
        double stable = max == 0 ? 0 : squares / (max * max);
        return new Spectrum(rows, columns, singularValues, tolerance, rank, EffectiveRank(singularValues), stable, Math.Sqrt(squares));
    }

    /// <summary>exp of the Shannon entropy of σ normalised to sum 1; 0 for an all-zero spectrum.</summary>
    public static double EffectiveRank(IReadOnlyList<double> singularValues)
    {
        double total = singularValues.Sum();
        if (total <= 0) return 0;
        double entropy = 0;
        foreach (double s in singularValues)
        {
            // 0 · ln 0 = 0: exact zeros (and float noise below zero never occurs for σ) add nothing.
            if (s <= 0) continue;
            double p = s / total;
            entropy -= p * Math.Log(p);
        }
        return Math.Exp(entropy);
    }

    /// <summary><c>Σ_{i&lt;k} σᵢ² / Σ σᵢ²</c>, 1 when the total is zero.</summary>
    public static double EnergyKept(IReadOnlyList<double> singularValues, int k)
    {
        double total = 0, kept = 0;
        for (int i = 0; i < singularValues.Count; i++)
        {
            double e = singularValues[i] * singularValues[i];
            total += e;
            if (i < k) kept += e;
        }
        return total == 0 ? 1 : Math.Min(1, kept / total);
    }

    /// <summary>
    /// The absolute tolerance: <c>σ_max · rtol</c>, with rtol defaulting to
    /// <c>max(m, n) · eps(dtype)</c> as <c>torch.linalg.matrix_rank</c> does.
    /// </summary>
    public static double Tolerance(double maxSingularValue, long rows, long columns, ScalarType inputDtype, double? relativeTolerance)
    {
        CheckRelativeTolerance(relativeTolerance);
        if (relativeTolerance is double rtol) return maxSingularValue * rtol;
        return maxSingularValue * Math.Max(rows, columns) * finfo(inputDtype).eps;
    }

    /// <summary>Rejects a negative, NaN or infinite relative tolerance before any work is done.</summary>
    public static void CheckRelativeTolerance(double? relativeTolerance)
    {
        if (relativeTolerance is double rtol && (!(rtol >= 0) || double.IsInfinity(rtol)))
            throw new ArgumentOutOfRangeException(nameof(relativeTolerance), rtol, "The relative tolerance must be finite and non-negative.");
    }
}
