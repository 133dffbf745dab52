using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Shrinks a low-rank pair (a LoRA pair, or any method's declared factors) to a smaller rank with the least possible error: the best rank-k
/// approximation of <c>scaling · B · A</c>, computed through the thin QR + core SVD route (never
/// forming <c>[m, n]</c>), with √σ split evenly between the two new factors.
/// </summary>
public static class LowRankTruncation
{
    /// <summary>
    /// Truncates <c>scaling · B · A</c> to rank <paramref name="newRank"/>: returns <c>A' [k, n]</c>,
    /// <c>B' [m, k]</c> with <c>targetScaling · B' · A' = U_k Σ_k V_kᵀ</c>, the best rank-k approximation.
    /// </summary>
    /// <param name="b">The left factor <c>[m, r]</c>, e.g. LoRA's <c>lora_B.weight</c>.</param>
    /// <param name="a">The right factor <c>[r, n]</c>, e.g. LoRA's <c>lora_A.weight</c>.</param>
    /// <param name="scaling">The scaling of the original pair.</param>
    /// <param name="newRank">The new rank k, from 1 to r.</param>
    /// <param name="targetScaling">
    /// The scaling the new pair will be used with. Default: <paramref name="scaling"/> (unchanged),
    /// which suits a config that keeps its scaling. When the new config recomputes it (PEFT's
    /// <c>lora_alpha / k</c>), pass that value and it is divided out of the factors.
    /// </param>
    /// <returns>
    /// The factors in the promoted dtype of the inputs on <paramref name="a"/>'s device, detached, in
    /// the caller's dispose scope; plus the energy kept and the truncation error. When the product has
    /// rank below k (m or n smaller than k), the extra rows of A' and columns of B' are zero.
    /// </returns>
    /// <exception cref="ArgumentException">The factors are not floating-point matrices whose inner dimensions agree.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="newRank"/> is below 1 or above r; <paramref name="scaling"/> is not finite;
    /// <paramref name="targetScaling"/> is zero or not finite.
    /// </exception>
    public static LowRankFactors Truncate(Tensor b, Tensor a, double scaling, int newRank, double? targetScaling = null)
    {
        ThinSvd.CheckFactors(b, a, nameof(b), nameof(a));
        AnalysisGuards.FiniteScaling(scaling, nameof(scaling));
        long r = a.shape[0];
        if (newRank < 1 || newRank > r)
            throw new ArgumentOutOfRangeException(nameof(newRank), newRank, $"The new rank must be between 1 and the current rank r = {r}.");
        double target = targetScaling ?? scaling;
        if (!double.IsFinite(target) || target == 0)
            throw new ArgumentOutOfRangeException(nameof(targetScaling), targetScaling, "The target scaling must be finite and non-zero.");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dtype = promote_types(b.dtype, a.dtype);
        var (u, s, vh) = ThinSvd.Of(b, a);
        double[] original = s.mul(Math.Abs(scaling)).cpu().contiguous().data<double>().ToArray();

        // target · B'A' must equal scaling · U_k Σ_k V_kᵀ: each factor takes √(|c| σ) with
        // c = scaling / target, and B' also takes c's sign.
        double c = scaling / target;
        long kept = Math.Min(newRank, s.shape[0]);
        var root = s.narrow(0, 0, kept).mul(Math.Abs(c)).sqrt_();
        var newB = u.narrow(1, 0, kept).mul(root.unsqueeze(0)).mul_(Math.Sign(c) == 0 ? 1 : Math.Sign(c));
        var newA = vh.narrow(0, 0, kept).mul(root.unsqueeze(1));
        if (kept < newRank)
        {
            newB = cat([newB, newB.new_zeros(newB.shape[0], newRank - kept)], 1);
            newA = cat([newA, newA.new_zeros(newRank - kept, newA.shape[1])], 0);
        }

        double residual = Math.Sqrt(original.Skip((int)kept).Sum(x => x * x));
        return new LowRankFactors(
            new LowRankUpdate(newB.to(dtype, a.device).MoveToOuterDisposeScope(), newA.to(dtype, a.device).MoveToOuterDisposeScope(), target),
            SpectrumMath.EnergyKept(original, (int)kept),
            residual,
            original);
    }
}
