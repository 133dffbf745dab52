using Lily.Analysis;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// Lily's update rebuilt from raw adapter tensors (<c>lily_A.weight</c>, the shared <c>lily_B.weight</c>
/// and a mixture), independent of any module: <c>scaling · (Σ_e p̄_e B_e)ᵀ · A</c>. These belong to Lily,
/// so they live in its folder; they extend <see cref="DeltaWeights"/> and <see cref="SpectrumAnalysis"/>
/// so that they are called as <c>DeltaWeights.LilyDeltaWeight(...)</c> and
/// <c>SpectrumAnalysis.OfLilyUpdate(...)</c>, next to the general analyses. The experts are mixed by
/// the layer's own code (<see cref="LilyExpertPool"/>). Results are detached and belong to the caller's
/// dispose scope.
/// </summary>
public static class LilyAnalysis
{
    extension(DeltaWeights)
    {
        /// <summary>
        /// Lily's update for one layer at a fixed mixture: <c>scaling · (Σ_e p̄_e B_e)ᵀ · A</c>, of rank at most r,
        /// in the promoted dtype of the inputs on <paramref name="a"/>'s device.
        /// </summary>
        /// <param name="a">The layer's <c>lily_A.weight</c>, <c>[r, d_in]</c>.</param>
        /// <param name="pool">The shared <c>lily_B.weight</c>, <c>[E·r, d_out]</c>, expert-major (expert e is rows <c>e·r … e·r + r − 1</c>).</param>
        /// <param name="mixture">The expert weights p̄, <c>[E]</c> (e.g. a layer's mean routing weights); not required to sum to 1.</param>
        /// <param name="scaling">The layer's scaling.</param>
        /// <returns>ΔW, <c>[d_out, d_in]</c>.</returns>
        /// <exception cref="ArgumentException">The shapes do not fit together or a tensor is not floating point.</exception>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="scaling"/> is not finite.</exception>
        public static Tensor LilyDeltaWeight(Tensor a, Tensor pool, Tensor mixture, double scaling)
        {
            AnalysisGuards.Matrix(a, nameof(a));
            AnalysisGuards.FiniteScaling(scaling, nameof(scaling));
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var combined = CombineExperts(pool, mixture, a.shape[0], nameof(pool), nameof(mixture));
            var dtype = promote_types(combined.dtype, a.dtype);
            return combined.t().to(dtype, a.device).matmul(a.to(dtype)).mul_(scaling).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// The mixed expert <c>Σ_e p̄_e B_e</c>, <c>[r, d_out]</c>, in the pool's dtype and on its device: the
        /// transpose of the left factor of Lily's update, to feed <see cref="SpectrumAnalysis.OfLowRankProduct"/>
        /// or <see cref="LowRankTruncation.Truncate"/>.
        /// </summary>
        /// <param name="pool">The shared <c>lily_B.weight</c>, <c>[E·r, d_out]</c>, expert-major.</param>
        /// <param name="mixture">The expert weights p̄, <c>[E]</c>.</param>
        /// <param name="rank">The rank r of each expert (rows of the layer's <c>lily_A.weight</c>).</param>
        /// <exception cref="ArgumentException">The pool is not <c>[E·r, d_out]</c> for the mixture's E, or a tensor is not floating point.</exception>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="rank"/> is less than 1.</exception>
        public static Tensor LilyCombinedExpert(Tensor pool, Tensor mixture, long rank)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            return CombineExperts(pool, mixture, rank, nameof(pool), nameof(mixture)).MoveToOuterDisposeScope();
        }
    }

    extension(SpectrumAnalysis)
    {
        /// <summary>
        /// The spectrum of a Lily layer's update at a fixed mixture, <c>scaling · (Σ_e p̄_e B_e)ᵀ · A</c>,
        /// through the thin route (see <see cref="SpectrumAnalysis.OfLowRankProduct"/>).
        /// </summary>
        /// <param name="a">The layer's <c>lily_A.weight</c>, <c>[r, d_in]</c>.</param>
        /// <param name="pool">The shared <c>lily_B.weight</c>, <c>[E·r, d_out]</c>, expert-major.</param>
        /// <param name="mixture">The expert weights p̄, <c>[E]</c>.</param>
        /// <param name="scaling">The layer's scaling.</param>
        /// <param name="relativeTolerance">As in <see cref="SpectrumAnalysis.Of"/>.</param>
        /// <exception cref="ArgumentException">The shapes do not fit together (as for <c>DeltaWeights.LilyCombinedExpert</c>).</exception>
        public static Spectrum OfLilyUpdate(Tensor a, Tensor pool, Tensor mixture, double scaling, double? relativeTolerance = null)
        {
            AnalysisGuards.Matrix(a, nameof(a));
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var combined = CombineExperts(pool, mixture, a.shape[0], nameof(pool), nameof(mixture));
            return SpectrumAnalysis.OfLowRankProduct(combined.t(), a, scaling, relativeTolerance);
        }
    }

    // Validates the raw tensors, then mixes with the layer's own code; the result is in the pool's
    // dtype and device, in the current scope.
    private static Tensor CombineExperts(Tensor pool, Tensor mixture, long rank, string poolName, string mixtureName)
    {
        AnalysisGuards.Matrix(pool, poolName);
        AnalysisGuards.FloatingPoint(mixture, mixtureName);
        if (mixture.dim() != 1)
            throw new ArgumentException($"The mixture must be a vector [E] but has shape [{string.Join(", ", mixture.shape)}].", mixtureName);
        long experts = mixture.shape[0];
        if (experts < 1 || pool.shape[0] != experts * rank)
            throw new ArgumentException(
                $"The pool has {pool.shape[0]} rows but E·r = {experts}·{rank} = {experts * rank} (expert-major [E·r, d_out] expected).", poolName);
        return LilyExpertPool.Mix(pool, mixture.to(pool.dtype, pool.device), experts, rank, pool.size(1));
    }
}
