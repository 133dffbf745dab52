using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// A Linear layer with a CLoRA update: <c>y = W x + b + scaling · Σ_h ((x D_h) Q_h) U_h</c>, with p
/// base pairs <c>D_h</c> (<c>d_in × r</c>), <c>U_h</c> (<c>r × d_out</c>) shared with the other layers
/// of its group and p cores <c>Q_h</c> (<c>r × r</c>) of its own. ΔW has rank up to <c>p·r</c>.
/// </summary>
/// <remarks>
/// Storage: <c>clora_D.weight</c> is <c>[p·r, d_in]</c> (rows <c>h·r … h·r + r − 1</c> are <c>D_hᵀ</c>,
/// as <c>nn.Linear(d_in, p·r)</c> stores it), <c>clora_U.weight</c> is <c>[p·r, d_out]</c> (rows of block
/// h are <c>U_h</c>), <c>clora_Q.weight</c> is <c>[p, r, r]</c>. Forward folds the cores into the up
/// projection first (<c>[Q_h U_h]_h</c>, p·r²·d_out work independent of the batch), so the update is two
/// matrix products of inner size p·r, like a LoRA of rank p·r.
/// </remarks>
public sealed class CLoraLinear : AdapterLinear
{
    private readonly CLoraFactor clora_D;
    private readonly CLoraFactor clora_U;
    private readonly CLoraFactor clora_Q;

    /// <summary>Wraps <paramref name="baseLayer"/> with the shared bases and fresh cores.</summary>
    /// <param name="baseLayer">The frozen layer.</param>
    /// <param name="sharedD">Down-projection bases <c>[p·r, d_in]</c>, shared by the layer's group.</param>
    /// <param name="sharedU">Up-projection bases <c>[p·r, d_out]</c>, shared by the layer's group.</param>
    /// <param name="bases">Number p of base pairs.</param>
    /// <param name="r">Rank r of each base and core.</param>
    /// <param name="scaling">Plain multiplier of the update.</param>
    /// <param name="sadeWeight">Weight of SADE in <see cref="AuxiliaryLoss"/> (0: none).</param>
    /// <param name="zeroCores">Start the cores at zero (a no-op adapter); else uniform in ±1/√r.</param>
    public CLoraLinear(Linear baseLayer, CLoraFactor sharedD, CLoraFactor sharedU, int bases, int r, double scaling, double sadeWeight, bool zeroCores)
        : base(nameof(CLoraLinear), baseLayer)
    {
        ArgumentNullException.ThrowIfNull(sharedD);
        ArgumentNullException.ThrowIfNull(sharedU);
        long width = (long)bases * r;
        var d = sharedD.Weight;
        if (d.dim() != 2 || d.shape[0] != width || d.shape[1] != baseLayer.in_features)
            throw new ArgumentException($"Shared D has shape [{string.Join(", ", d.shape)}], expected [{width}, {baseLayer.in_features}] (p·r, d_in).", nameof(sharedD));
        var u = sharedU.Weight;
        if (u.dim() != 2 || u.shape[0] != width || u.shape[1] != baseLayer.out_features)
            throw new ArgumentException($"Shared U has shape [{string.Join(", ", u.shape)}], expected [{width}, {baseLayer.out_features}] (p·r, d_out).", nameof(sharedU));

        Bases = bases;
        Rank = r;
        Scaling = scaling;
        SadeWeight = sadeWeight;
        clora_D = sharedD;
        clora_U = sharedU;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var q = zeros(bases, r, r, dtype: d.dtype, device: d.device);
            if (!zeroCores) nn.init.uniform_(q, -1 / Math.Sqrt(r), 1 / Math.Sqrt(r));
            clora_Q = new CLoraFactor("CLoraCores", q);
        }
        RegisterComponents();
    }

    /// <summary>Number p of base pairs.</summary>
    public int Bases { get; }

    /// <summary>Rank r of each base and core.</summary>
    public int Rank { get; }

    /// <summary>Plain multiplier of the update.</summary>
    public double Scaling { get; }

    /// <summary>Weight of SADE in <see cref="AuxiliaryLoss"/>.</summary>
    public double SadeWeight { get; }

    /// <summary>The shared down-projection bases <c>[p·r, d_in]</c> (block h is <c>D_hᵀ</c>).</summary>
    public Parameter D => clora_D.Weight;

    /// <summary>The shared up-projection bases <c>[p·r, d_out]</c> (block h is <c>U_h</c>).</summary>
    public Parameter U => clora_U.Weight;

    /// <summary>This layer's cores <c>[p, r, r]</c>.</summary>
    public Parameter Q => clora_Q.Weight;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => D.dtype;

    /// <summary>p·r: the update is a sum of <see cref="Bases"/> products of rank <see cref="Rank"/>.</summary>
    public override long? AllocatedRank => (long)Bases * Rank;

    /// <inheritdoc />
    public override bool CanMerge => true;

    // [Q_h U_h]_h stacked: [p·r, d_out], so that ΔW's map is x ↦ (x Dᵀ) · this.
    private Tensor CoresTimesUp() =>
        Q.bmm(U.view(Bases, Rank, OutFeatures)).view((long)Bases * Rank, OutFeatures);

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x)
    {
        var h = x.matmul(D.t());
        var delta = h.matmul(CoresTimesUp());
        return Scaling == 1.0 ? delta : delta.mul_(Scaling);
    }

    /// <summary><c>result += scaling · (x Dᵀ) [Q_h U_h]_h</c> as one <c>addmm_</c>.</summary>
    protected override Tensor AddDelta(Tensor result, Tensor x)
    {
        var h = x.reshape(-1, InFeatures).matmul(D.t());
        return AddScaledProduct(result, h, CoresTimesUp(), Scaling);
    }

    /// <summary>The factors <c>B = [Q_h U_h]_hᵀ</c> (<c>[d_out, p·r]</c>), <c>A = D</c> (<c>[p·r, d_in]</c>) and the scaling.</summary>
    public override LowRankUpdate? UpdateFactors() => new(CoresTimesUp().t(), D, Scaling);

    /// <summary>The update as a weight, <c>scaling · Σ_h (D_h Q_h U_h)ᵀ</c>, <c>[d_out, d_in]</c>, in the adapter's dtype.</summary>
    public Tensor DeltaWeight() => CoresTimesUp().t().matmul(D).mul_(Scaling);

    /// <inheritdoc />
    protected override Tensor MergeDelta() => DeltaWeight();

    /// <summary>
    /// SADE (see <see cref="CLoraSade"/>) times <see cref="SadeWeight"/>; null when the weight is 0. The Gram
    /// blocks of the shared D and U come from <paramref name="context"/>, so the layers of one group compute
    /// them once per call; only the per-layer r-part (<see cref="CLoraSade.FromGrams"/>) is this layer's.
    /// </summary>
    public override Tensor? AuxiliaryLoss(AuxiliaryLossContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (SadeWeight == 0) return null;
        var d = D;
        var u = U;
        var gramD = context.Shared(GramDownName, d, () => CLoraSade.DownGram(d, Bases, Rank));
        var gramU = context.Shared(GramUpName, u, () => CLoraSade.UpGram(u, Bases, Rank));
        return CLoraSade.FromGrams(gramD, gramU, Q).mul(SadeWeight);
    }

    private const string GramDownName = "clora.sade.gram_D", GramUpName = "clora.sade.gram_U";
}
