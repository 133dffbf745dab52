using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// A Linear layer with a routed LoRA update: <c>y = W x + b + scaling · Σ_e m_e B_e A_e x</c>, where the
/// mixture m is the batch mean of the per-token router probabilities <c>softmax(router · x)</c> (or, with
/// <see cref="PerToken"/>, each token's own), or the frozen mixture. The experts are stored stacked:
/// <c>lora_A</c> is <c>[E·r, d_in]</c> (expert e is rows <c>e·r … e·r + r − 1</c>) and <c>lora_B</c> is
/// <c>[d_out, E·r]</c> (expert e is the same columns), so at a fixed mixture the update is one product
/// <c>(B diag(m ⊗ 1_r)) · A</c> of inner dimension E·r.
/// </summary>
public sealed class RoutedLoraLinear : AdapterLinear, IRoutedAdapter
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly Linear lora_router;
    private double[]? frozenMixture;

    /// <summary>Creates the update for <paramref name="baseLayer"/>; B starts at zero, so the update does.</summary>
    /// <param name="baseLayer">The frozen layer (held by reference; the model owns it).</param>
    /// <param name="experts">Number of experts E.</param>
    /// <param name="r">Rank of each expert.</param>
    /// <param name="scaling">Multiplier of the mixed update.</param>
    /// <param name="dtype">dtype of the adapter's parameters.</param>
    /// <param name="device">Where they live.</param>
    public RoutedLoraLinear(Linear baseLayer, int experts, int r, double scaling, ScalarType dtype, Device device)
        : base(nameof(RoutedLoraLinear), baseLayer)
    {
        Experts = experts;
        Rank = r;
        Scaling = scaling;
        lora_A = nn.Linear(baseLayer.in_features, experts * r, hasBias: false, device: device, dtype: dtype);
        lora_B = nn.Linear(experts * r, baseLayer.out_features, hasBias: false, device: device, dtype: dtype);
        lora_router = nn.Linear(baseLayer.in_features, experts, hasBias: false, device: device, dtype: dtype);
        using (no_grad()) lora_B.weight!.zero_();
        RegisterComponents();
    }

    /// <summary>Rank r of each expert.</summary>
    public int Rank { get; }

    /// <summary>Multiplier of the mixed update.</summary>
    public double Scaling { get; }

    /// <summary>The stacked down-projections, <c>[E·r, d_in]</c>.</summary>
    public Linear LoraA => lora_A;

    /// <summary>The stacked up-projections, <c>[d_out, E·r]</c>.</summary>
    public Linear LoraB => lora_B;

    /// <summary>The router, <c>[E, d_in]</c>.</summary>
    public Linear Router => lora_router;

    /// <summary>Whether each token is mixed by its own probabilities instead of the batch mean.</summary>
    public bool PerToken { get; set; }

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lora_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => frozenMixture is not null;

    // begin-snippet: routed-layer
    /// <inheritdoc />
    public int Experts { get; }

    /// <inheritdoc />
    public double[]? FrozenMixture => frozenMixture?.ToArray();

    /// <summary>True unless <see cref="PerToken"/>: the batch mean makes every sample depend on its batch.</summary>
    public bool MixesAcrossBatch => !PerToken;

    /// <inheritdoc />
    public Action<Tensor>? RoutingObserver { get; set; }

    /// <inheritdoc />
    public void FreezeRouting(Tensor mixture)
    {
        ArgumentNullException.ThrowIfNull(mixture);
        if (Merged) throw new InvalidOperationException("Unmerge the layer before changing its routing.");
        if (mixture.dim() != 1 || mixture.shape[0] != Experts || !mixture.is_floating_point())
            throw new ArgumentException($"Expected a floating-point mixture of shape [{Experts}].", nameof(mixture));
        var values = mixture.to(ScalarType.Float64).cpu().data<double>().ToArray();
        if (!values.All(double.IsFinite)) throw new ArgumentException("The mixture holds a NaN or an infinity.", nameof(mixture));
        frozenMixture = values;
    }

    /// <inheritdoc />
    public void UnfreezeRouting()
    {
        if (Merged) throw new InvalidOperationException("Unmerge the layer before changing its routing.");
        frozenMixture = null;
    }

    /// <summary>At mixture m: <c>B' = B diag(m ⊗ 1_r)</c> (<c>[d_out, E·r]</c>, expert e's columns times m_e) and <c>A' = A</c>.</summary>
    public LowRankUpdate FactorsAt(double[] mixture)
    {
        ArgumentNullException.ThrowIfNull(mixture);
        var b = lora_B.weight!;
        var columns = tensor(mixture).to(b.dtype, b.device).repeat_interleave(Rank);
        return new LowRankUpdate(b.mul(columns), lora_A.weight!, Scaling);
    }

    /// <summary>The factors at the frozen mixture, or null while the router decides (the update depends on the input).</summary>
    public override LowRankUpdate? UpdateFactors() => frozenMixture is null ? null : FactorsAt(frozenMixture);
    // end-snippet

    /// <summary>The router's per-token probabilities <c>softmax(router · x)</c>, <c>[N, E]</c> for any input <c>[..., d_in]</c>.</summary>
    public Tensor TokenProbabilities(Tensor x) => lora_router.forward(x.reshape(-1, InFeatures)).softmax(-1);

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x)
    {
        var rows = x.reshape(-1, InFeatures);
        var p = TokenProbabilities(rows);
        RoutingObserver?.Invoke(p);
        // The weight of each token's expert e, one row per token: frozen, its own, or the batch mean.
        var mixture = frozenMixture is not null
            ? tensor(frozenMixture).to(p.dtype, p.device).unsqueeze(0)
            : PerToken ? p : p.mean([0], keepdim: true);
        var h = lora_A.forward(rows).mul(mixture.repeat_interleave(Rank, dim: 1));
        return lora_B.forward(h).mul(Scaling).view([.. x.shape[..^1], OutFeatures]);
    }

    /// <inheritdoc />
    protected override Tensor MergeDelta()
    {
        var f = FactorsAt(frozenMixture!);
        return f.B.matmul(f.A).mul(f.Scaling);
    }
}
