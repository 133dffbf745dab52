using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Weight updates ΔW rebuilt from raw adapter tensors, independent of any module: a low-rank product
/// <c>scaling · B · A</c> (LoRA's pair, or any method's declared factors). A method adds the forms of
/// its own tensors beside it, from its own folder, as static extension members (Lily does).
/// Results are detached (computed without recording gradients) and belong to the caller's
/// dispose scope; they have the promoted dtype of the inputs and the device of <c>a</c>.
/// </summary>
public static class DeltaWeights
{
    /// <summary>The update <c>scaling · B · A</c> of a low-rank pair.</summary>
    /// <param name="b">The left factor <c>[d_out, r]</c>, e.g. LoRA's <c>lora_B.weight</c>.</param>
    /// <param name="a">The right factor <c>[r, d_in]</c>, e.g. LoRA's <c>lora_A.weight</c>.</param>
    /// <param name="scaling">The multiplier, e.g. LoRA's <c>lora_alpha / r</c> (or <c>/ √r</c> with rsLoRA).</param>
    /// <returns>ΔW, <c>[d_out, d_in]</c>.</returns>
    /// <exception cref="ArgumentException">The factors are not floating-point matrices whose inner dimensions agree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scaling"/> is not finite.</exception>
    public static Tensor OfLowRankProduct(Tensor b, Tensor a, double scaling)
    {
        ThinSvd.CheckFactors(b, a, nameof(b), nameof(a));
        AnalysisGuards.FiniteScaling(scaling, nameof(scaling));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dtype = promote_types(b.dtype, a.dtype);
        return b.to(dtype, a.device).matmul(a.to(dtype)).mul_(scaling).MoveToOuterDisposeScope();
    }
}
