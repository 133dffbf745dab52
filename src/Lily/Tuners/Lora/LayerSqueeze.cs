namespace Lily.Tuners;

/// <summary>What truncating one layer's update to a smaller rank kept (see <see cref="LoraExport.ExportSqueezedLora{TModel}"/>).</summary>
/// <param name="Path">The layer's path in the model.</param>
/// <param name="OriginalRank">The rank r of the factors before truncation.</param>
/// <param name="EnergyKept"><c>Σ_{i&lt;k} σᵢ² / Σ σᵢ²</c> of the layer's ΔW, in [0, 1]; 1 for a zero update.</param>
/// <param name="ResidualFrobeniusNorm"><c>‖ΔW − ΔW_k‖_F</c>, the truncation error.</param>
/// <param name="SingularValues">All min(d_out, d_in, r) singular values of the layer's ΔW, descending.</param>
public sealed record LayerSqueeze(string Path, int OriginalRank, double EnergyKept, double ResidualFrobeniusNorm, double[] SingularValues);
