using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Weight updates ΔW rebuilt from raw adapter tensors, independent of any module: LoRA's
/// <c>scaling · B · A</c> and Lily's <c>scaling · (Σ_e p̄_e B_e)ᵀ · A</c> at a fixed mixture.
/// Results are detached (computed without recording gradients) and belong to the caller's
/// dispose scope; they have the promoted dtype of the inputs and the device of <c>a</c>.
/// </summary>
public static class DeltaWeights
{
    /// <summary>LoRA's update <c>scaling · B · A</c>.</summary>
    /// <param name="b"><c>lora_B.weight</c>, <c>[d_out, r]</c>.</param>
    /// <param name="a"><c>lora_A.weight</c>, <c>[r, d_in]</c>.</param>
    /// <param name="scaling">LoRA's scaling (<c>lora_alpha / r</c>, or <c>/ √r</c> with rsLoRA).</param>
    /// <returns>ΔW, <c>[d_out, d_in]</c>.</returns>
    /// <exception cref="ArgumentException">The factors are not floating-point matrices whose inner dimensions agree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scaling"/> is not finite.</exception>
    public static Tensor LoraDeltaWeight(Tensor b, Tensor a, double scaling)
    {
        ThinSvd.CheckFactors(b, a, nameof(b), nameof(a));
        AnalysisGuards.FiniteScaling(scaling, nameof(scaling));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dtype = promote_types(b.dtype, a.dtype);
        return b.to(dtype, a.device).matmul(a.to(dtype)).mul_(scaling).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Lily's update for one layer at a fixed mixture: <c>scaling · (Σ_e p̄_e B_e)ᵀ · A</c>, of rank at most r.
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
    /// The mixed expert <c>Σ_e p̄_e B_e</c>, <c>[r, d_out]</c>: the transpose of the left factor of
    /// Lily's update, to feed <see cref="SpectrumAnalysis.OfLowRankProduct"/> or <see cref="LoraSqueeze.Truncate(Tensor, Tensor, double, int, double?)"/>.
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

    /// <summary>Validates and mixes the pool; the result is in the pool's dtype and device, in the current scope.</summary>
    internal static Tensor CombineExperts(Tensor pool, Tensor mixture, long rank, string poolName, string mixtureName)
    {
        AnalysisGuards.Matrix(pool, poolName);
        AnalysisGuards.FloatingPoint(mixture, mixtureName);
        if (mixture.dim() != 1)
            throw new ArgumentException($"The mixture must be a vector [E] but has shape [{string.Join(", ", mixture.shape)}].", mixtureName);
        long experts = mixture.shape[0];
        if (experts < 1 || pool.shape[0] != experts * rank)
            throw new ArgumentException(
                $"The pool has {pool.shape[0]} rows but E·r = {experts}·{rank} = {experts * rank} (expert-major [E·r, d_out] expected).", poolName);
        long outFeatures = pool.shape[1];
        // Expert-major storage makes [E, r·d_out] a free view: one matmul mixes all experts.
        var mixed = mixture.to(pool.dtype, pool.device).unsqueeze(0).matmul(pool.reshape(experts, rank * outFeatures));
        return mixed.view(rank, outFeatures);
    }
}
