namespace Lily.Tuners;

/// <summary>
/// How <see cref="LoraArithmetic.AddWeightedAdapter{TModel}"/> combines LoRA adapters with weights <c>wᵢ</c>
/// (each adapter's update is <c>ΔWᵢ = sᵢ·Bᵢ·Aᵢ</c>, <c>sᵢ</c> its scaling). The new adapter has scaling 1
/// (<c>lora_alpha = r</c>), as in PEFT.
/// </summary>
public enum LoraCombination
{
    /// <summary>
    /// PEFT's <c>linear</c>: <c>A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ</c>, <c>B = Σ √|wᵢsᵢ|·Bᵢ</c>; all ranks must be equal.
    /// It combines the factors, not the updates: <c>B·A</c> holds cross terms <c>Bᵢ·Aⱼ</c>, so the result is
    /// <b>not</b> <c>Σ wᵢ ΔWᵢ</c>. Kept for files that must match PEFT's; use <see cref="Cat"/> for the exact sum.
    /// </summary>
    Linear,

    /// <summary>
    /// PEFT's <c>cat</c>: A stacks the rows <c>wᵢsᵢ·Aᵢ</c>, B the columns <c>Bᵢ</c>; rank Σ rᵢ. Exactly
    /// <c>Σ wᵢ ΔWᵢ</c>.
    /// </summary>
    Cat,

    /// <summary>
    /// PEFT's <c>svd</c>: the rank-<c>svd_rank</c> truncated SVD of <c>Σ wᵢsᵢ·ΔWᵢ</c>, <c>B = U·diag(S)</c>,
    /// <c>A = Vᴴ</c>. PEFT applies each scaling twice (<c>sᵢ²·Bᵢ·Aᵢ</c>), so this is not <c>Σ wᵢ ΔWᵢ</c> unless
    /// every scaling is 1. Kept for files that must match PEFT's; <see cref="ExactSvd"/> is the intended sum.
    /// </summary>
    Svd,

    /// <summary>
    /// Not in PEFT: the rank-<c>svd_rank</c> truncated SVD of <c>Σ wᵢ ΔWᵢ</c> (each scaling once), the best
    /// rank-r approximation of the weighted sum of the updates.
    /// </summary>
    ExactSvd,
}
