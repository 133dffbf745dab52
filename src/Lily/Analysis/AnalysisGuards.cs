using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>Argument checks shared by the analyses, so every entry point fails with the same clear messages.</summary>
internal static class AnalysisGuards
{
    public static void Matrix(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.dim() != 2)
            throw new ArgumentException($"Expected a matrix (2 dimensions) but got shape [{string.Join(", ", t.shape)}].", name);
        FloatingPoint(t, name);
    }

    public static void FloatingPoint(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (!t.is_floating_point())
            throw new ArgumentException($"Expected a real floating-point tensor but got {t.dtype}.", name);
    }

    public static void FiniteScaling(double scaling, string name)
    {
        if (!double.IsFinite(scaling))
            throw new ArgumentOutOfRangeException(name, scaling, "The scaling must be finite.");
    }

    /// <summary>
    /// Checks that the rows of <paramref name="p"/> (float64, <c>[..., E]</c>) are probability
    /// vectors, with a tolerance that follows the precision the caller computed them in.
    /// </summary>
    public static void ProbabilityRows(Tensor p, ScalarType originalDtype, string name)
    {
        if (p.numel() == 0) return;
        double tol = Math.Max(1e-4, 2 * finfo(originalDtype).eps);
        double minimum = p.min().item<double>();
        if (!(minimum >= -tol))
            throw new ArgumentException($"Probabilities must be non-negative (found {minimum}).", name);
        double worst = p.sum(-1).sub_(1).abs_().max().item<double>();
        if (!(worst <= tol))
            throw new ArgumentException($"Each row of probabilities must sum to 1 (worst row is off by {worst}).", name);
    }
}
