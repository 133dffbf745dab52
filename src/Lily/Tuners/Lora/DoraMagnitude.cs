using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// DoRA's magnitude vector (Liu et al. 2024, arXiv 2402.09353; PEFT's <c>lora_magnitude_vector</c>):
/// one trainable scale <c>m</c> per output row. A DoRA layer's weight is
/// <c>W' = (m / ‖W + s·B A‖) ⊙ (W + s·B A)</c>, the norm taken per output row (PEFT's
/// <c>torch.linalg.norm(…, dim=1)</c>) and detached from the gradient, as the paper's section 4.3
/// and PEFT do. The parameter is <c>weight</c> <c>[d_out]</c>, so it lives in memory at PEFT's path
/// (<c>q_proj.lora_magnitude_vector.default.weight</c>); PEFT's files name it without <c>.weight</c>.
/// </summary>
public sealed class DoraMagnitude : nn.Module
{
    /// <summary>The parameter's name in memory, under the module.</summary>
    internal const string ParameterName = "weight";

    private readonly Parameter weight;

    /// <summary>Creates the vector with the given starting values <c>[d_out]</c> (PEFT: the row norms of <c>W + s·B A</c>).</summary>
    /// <param name="initial">The starting magnitudes; copied.</param>
    internal DoraMagnitude(Tensor initial) : base(nameof(DoraMagnitude))
    {
        using (no_grad()) weight = (Parameter)new Parameter(initial.detach().clone()).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <summary>The magnitudes <c>m</c>, <c>[d_out]</c>.</summary>
    public Parameter Weight => weight;

    /// <summary>
    /// The row norms <c>‖W + Δ‖</c> <c>[d_out]</c> of <paramref name="baseWeight"/> plus <paramref name="scaledDelta"/>
    /// (<c>s·B A</c>, same shape), computed without gradient: DoRA treats the norm as a constant.
    /// </summary>
    internal static Tensor RowNorms(Tensor baseWeight, Tensor scaledDelta)
    {
        using var noGrad = no_grad();
        return linalg.vector_norm(baseWeight + scaledDelta, dims: [1]);
    }

    /// <summary>The factor <c>m / ‖W + Δ‖</c> <c>[d_out]</c>, with gradient through <c>m</c> only.</summary>
    internal Tensor Factor(Tensor baseWeight, Tensor scaledDelta) => weight / RowNorms(baseWeight, scaledDelta);
}
