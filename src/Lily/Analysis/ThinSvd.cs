using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// The SVD of a product <c>B·A</c> (<c>B [m, r]</c>, <c>A [r, n]</c>) without forming the
/// <c>[m, n]</c> matrix: reduced QR of <c>B</c> and of <c>Aᵀ</c>, then the SVD of the small core
/// <c>R_B·R_Aᵀ</c>. Costs <c>O((m + n) r²)</c> instead of <c>O(m n min(m, n))</c>.
/// </summary>
internal static class ThinSvd
{
    /// <summary>
    /// Returns <c>U [m, p]</c>, <c>S [p]</c> (descending), <c>Vh [p, n]</c> with <c>B·A = U diag(S) Vh</c>
    /// and <c>p = min(m, n, r)</c>, all float64 on the inputs' device. Call inside a dispose scope.
    /// </summary>
    public static (Tensor U, Tensor S, Tensor Vh) Of(Tensor b, Tensor a)
    {
        var b64 = b.to(ScalarType.Float64);
        var a64 = a.to(ScalarType.Float64, b.device);
        // Reduced QR handles m < r as well: Q_B [m, min(m, r)], R_B [min(m, r), r].
        var (qb, rb) = linalg.qr(b64);
        var (qa, ra) = linalg.qr(a64.t());
        var core = rb.matmul(ra.t());
        var (u, s, vh) = linalg.svd(core, fullMatrices: false);
        return (qb.matmul(u), s, vh.matmul(qa.t()));
    }

    /// <summary>Checks that <paramref name="b"/> and <paramref name="a"/> are matrices that multiply.</summary>
    public static void CheckFactors(Tensor b, Tensor a, string bName, string aName)
    {
        AnalysisGuards.Matrix(b, bName);
        AnalysisGuards.Matrix(a, aName);
        if (b.shape[1] != a.shape[0])
            throw new ArgumentException(
                $"The inner dimensions differ: {bName} is [{b.shape[0]}, {b.shape[1]}] but {aName} is [{a.shape[0]}, {a.shape[1]}].", aName);
    }
}
