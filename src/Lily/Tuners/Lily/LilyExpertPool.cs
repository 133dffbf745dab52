using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// The pool of E up-projection experts that all Lily layers of one target type share.
/// The weight is stored as PEFT stores <c>lily_B.weight</c>: <c>[E·r, d_out]</c>, expert-major,
/// so expert e is rows <c>e·r … e·r + r − 1</c> and a view gives <c>[E, r, d_out]</c> for free.
/// Starts at zero, so every layer's update starts at zero.
/// </summary>
/// <remarks>
/// Forward combines experts: given mixture weights <c>[..., E]</c> it returns
/// <c>Σ_e p_e B_e</c> as <c>[..., r, d_out]</c>, one matmul over the flattened pool.
/// </remarks>
public sealed class LilyExpertPool : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>Creates a zero pool of <paramref name="experts"/> experts of shape <c>[r, outFeatures]</c>.</summary>
    public LilyExpertPool(int experts, int r, long outFeatures, Device device, ScalarType dtype)
        : base(nameof(LilyExpertPool))
    {
        Experts = experts;
        Rank = r;
        OutFeatures = outFeatures;
        // Detached: a Parameter made inside a caller's dispose scope would otherwise die with it.
        weight = (Parameter)new Parameter(zeros(experts * (long)r, outFeatures, dtype: dtype, device: device)).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <summary>Number of experts E.</summary>
    public int Experts { get; }

    /// <summary>Rank r of each expert.</summary>
    public int Rank { get; }

    /// <summary>Output features of each expert.</summary>
    public long OutFeatures { get; }

    /// <summary>The pool as stored, <c>[E·r, d_out]</c>.</summary>
    public Parameter Weight => weight;

    /// <summary>Mixes the experts: <c>[..., E]</c> weights → <c>[..., r, d_out]</c>.</summary>
    public override Tensor forward(Tensor mixture) => Mix(weight, mixture, Experts, Rank, OutFeatures);

    /// <summary>
    /// <c>Σ_e p_e B_e</c> for a pool stored expert-major as <c>[E·r, d_out]</c>: <c>[..., E]</c> weights →
    /// <c>[..., r, d_out]</c>. The one implementation of Lily's expert mixing, used by the layer (through
    /// <see cref="forward"/>) and by the analysis of raw tensors, so both compute exactly the same thing.
    /// Expert-major storage makes <c>[E, r·d_out]</c> a free view: one matmul mixes all experts.
    /// </summary>
    /// <param name="pool">The pool <c>[E·r, d_out]</c>, already checked to fit.</param>
    /// <param name="mixture">Expert weights <c>[..., E]</c> in the pool's dtype and on its device.</param>
    /// <param name="experts">E.</param>
    /// <param name="rank">r.</param>
    /// <param name="outFeatures">d_out (passed, not read from the pool: the forward path makes no extra native call).</param>
    internal static Tensor Mix(Tensor pool, Tensor mixture, long experts, long rank, long outFeatures)
    {
        var lead = mixture.shape[..^1];
        var combined = mixture.reshape(-1, experts).matmul(pool.reshape(experts, rank * outFeatures));
        return combined.view([.. lead, rank, outFeatures]);
    }
}
