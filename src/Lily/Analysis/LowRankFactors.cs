using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// A truncated LoRA pair: <c>Scaling · B · A</c> is the best rank-k approximation (Eckart–Young,
/// in Frobenius and spectral norm) of the original <c>scaling · B · A</c>. The tensors belong to
/// the caller (and to the dispose scope that was current when they were made); <see cref="Dispose"/>
/// frees both.
/// </summary>
/// <param name="A">The new down-projection <c>[k, n]</c> (to store as <c>lora_A.weight</c>).</param>
/// <param name="B">The new up-projection <c>[m, k]</c> (to store as <c>lora_B.weight</c>).</param>
/// <param name="Scaling">The scaling these factors assume (the target scaling the caller chose).</param>
/// <param name="EnergyKept"><c>Σ_{i&lt;k} σᵢ² / Σ σᵢ²</c> of the original update, in [0, 1]; 1 for a zero update.</param>
/// <param name="ResidualFrobeniusNorm"><c>‖ΔW − ΔW_k‖_F = √(Σ_{i≥k} σᵢ²)</c>, the error of the truncation.</param>
/// <param name="SingularValues">All min(m, n, r) singular values of the original <c>scaling · B · A</c>, descending.</param>
public sealed record LowRankFactors(
    Tensor A,
    Tensor B,
    double Scaling,
    double EnergyKept,
    double ResidualFrobeniusNorm,
    double[] SingularValues) : IDisposable
{
    /// <summary>The new rank k (rows of <see cref="A"/>).</summary>
    public long Rank => A.shape[0];

    /// <summary>Frees <see cref="A"/> and <see cref="B"/>.</summary>
    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
