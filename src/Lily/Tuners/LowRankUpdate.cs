using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// A layer's update written as a low-rank product: <c>ΔW = Scaling · B · A</c>, in the base layer's
/// weight layout <c>[d_out, d_in]</c>. A method declares it (see <see cref="AdapterLinear.UpdateFactors"/>)
/// so that analysis (ΔW, its spectrum) and export work for it without knowing the method.
/// </summary>
/// <param name="B">Left factor <c>[d_out, k]</c>; for LoRA <c>lora_B.weight</c>.</param>
/// <param name="A">Right factor <c>[k, d_in]</c>; for LoRA <c>lora_A.weight</c>.</param>
/// <param name="Scaling">Plain multiplier of the product.</param>
/// <remarks>
/// The tensors may be the layer's own parameters or built from them in the caller's dispose scope,
/// and may record gradients: read them under <c>no_grad</c> and copy before changing them.
/// </remarks>
public sealed record LowRankUpdate(Tensor B, Tensor A, double Scaling)
{
    /// <summary>The inner dimension k of the product, an upper bound of ΔW's rank.</summary>
    public long InnerDimension => A.shape[0];
}
