using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Singular-value spectra of weight updates: the dense route for any matrix, and a thin route
/// for a low-rank product <c>B·A</c> (LoRA, or Lily at a fixed mixture) that never forms the
/// full <c>[m, n]</c> matrix. A method's raw-tensor forms are static extension members
/// defined in its own folder (Lily's is). Inputs may have any real floating dtype and live on any device;
/// the work runs in float64 on that device without recording gradients, and only the results
/// (CPU arrays and scalars) leave the method.
/// </summary>
public static class SpectrumAnalysis
{
    /// <summary>The spectrum of a matrix, computed densely.</summary>
    /// <param name="matrix">The matrix <c>[m, n]</c>, e.g. a layer's ΔW.</param>
    /// <param name="relativeTolerance">
    /// Numerical rank counts <c>σ &gt; σ_max · relativeTolerance</c>. When null,
    /// <c>max(m, n) · eps</c> of the matrix's dtype, as <c>torch.linalg.matrix_rank</c>.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="matrix"/> is not a 2-D floating-point tensor.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="relativeTolerance"/> is negative or not finite.</exception>
    public static Spectrum Of(Tensor matrix, double? relativeTolerance = null)
    {
        AnalysisGuards.Matrix(matrix, nameof(matrix));
        SpectrumMath.CheckRelativeTolerance(relativeTolerance);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var s = ToArray(linalg.svdvals(matrix.to(ScalarType.Float64)));
        return Finish(matrix.shape[0], matrix.shape[1], s, matrix.dtype, relativeTolerance);
    }

    /// <summary>
    /// The spectrum of <c>scaling · B · A</c> from its factors, through QR of <c>B</c> and
    /// <c>Aᵀ</c> and the SVD of the small core. Same values as <see cref="Of"/> on the product,
    /// but only <c>min(m, n, r)</c> singular values are listed (the rest are exactly zero).
    /// </summary>
    /// <param name="b">Left factor <c>[m, r]</c> (LoRA's <c>lora_B.weight</c>).</param>
    /// <param name="a">Right factor <c>[r, n]</c> (LoRA's <c>lora_A.weight</c>).</param>
    /// <param name="scaling">Multiplies the product; its absolute value scales every σ.</param>
    /// <param name="relativeTolerance">As in <see cref="Of"/>; the default eps is that of the promoted dtype of the factors.</param>
    /// <exception cref="ArgumentException">The factors are not floating-point matrices whose inner dimensions agree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scaling"/> is not finite, or <paramref name="relativeTolerance"/> is negative or not finite.</exception>
    public static Spectrum OfLowRankProduct(Tensor b, Tensor a, double scaling = 1.0, double? relativeTolerance = null)
    {
        ThinSvd.CheckFactors(b, a, nameof(b), nameof(a));
        AnalysisGuards.FiniteScaling(scaling, nameof(scaling));
        SpectrumMath.CheckRelativeTolerance(relativeTolerance);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (_, s, _) = ThinSvd.Of(b, a);
        var values = ToArray(s.mul(Math.Abs(scaling)));
        return Finish(b.shape[0], a.shape[1], values, promote_types(b.dtype, a.dtype), relativeTolerance);
    }

    /// <summary>Roy &amp; Vetterli's effective rank of a list of singular values: <c>exp(H(σ / Σσ))</c>; 0 if all are zero.</summary>
    /// <param name="singularValues">Non-negative singular values in any order.</param>
    public static double EffectiveRank(IReadOnlyList<double> singularValues)
    {
        ArgumentNullException.ThrowIfNull(singularValues);
        return SpectrumMath.EffectiveRank(singularValues);
    }

    private static Spectrum Finish(long rows, long columns, double[] s, ScalarType inputDtype, double? relativeTolerance)
    {
        double max = s.Length == 0 ? 0 : s[0];
        return SpectrumMath.Build(rows, columns, s, SpectrumMath.Tolerance(max, rows, columns, inputDtype, relativeTolerance));
    }

    private static double[] ToArray(Tensor t) => t.cpu().contiguous().data<double>().ToArray();
}
