using Lily.Tuners;

namespace Lily.Analysis;

/// <summary>
/// A truncated low-rank pair: <see cref="Update"/> (<c>Scaling · B · A</c>) is the best rank-k approximation
/// (Eckart–Young, in Frobenius and spectral norm) of the original <c>scaling · B · A</c>, with what the
/// truncation kept. The tensors belong to the caller (and to the dispose scope that was current when they
/// were made); <see cref="Dispose"/> frees both.
/// </summary>
/// <param name="Update">The new factors: <c>B [m, k]</c>, <c>A [k, n]</c> (to store as <c>lora_B.weight</c> and
/// <c>lora_A.weight</c>) and the scaling they assume (the target scaling the caller chose).</param>
/// <param name="EnergyKept"><c>Σ_{i&lt;k} σᵢ² / Σ σᵢ²</c> of the original update, in [0, 1]; 1 for a zero update.</param>
/// <param name="ResidualFrobeniusNorm"><c>‖ΔW − ΔW_k‖_F = √(Σ_{i≥k} σᵢ²)</c>, the error of the truncation.</param>
/// <param name="SingularValues">All min(m, n, r) singular values of the original <c>scaling · B · A</c>, descending.</param>
public sealed record LowRankFactors(
    LowRankUpdate Update,
    double EnergyKept,
    double ResidualFrobeniusNorm,
    double[] SingularValues) : IDisposable
{
    /// <summary>The new down-projection <c>[k, n]</c>: <see cref="Update"/>'s A.</summary>
    public TorchSharp.torch.Tensor A => Update.A;

    /// <summary>The new up-projection <c>[m, k]</c>: <see cref="Update"/>'s B.</summary>
    public TorchSharp.torch.Tensor B => Update.B;

    /// <summary>The scaling these factors assume: <see cref="Update"/>'s.</summary>
    public double Scaling => Update.Scaling;

    /// <summary>The new rank k (rows of <see cref="A"/>).</summary>
    public long Rank => Update.InnerDimension;

    /// <summary>Frees <see cref="A"/> and <see cref="B"/>.</summary>
    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
