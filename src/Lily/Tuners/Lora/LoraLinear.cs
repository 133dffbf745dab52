using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// A Linear layer with a LoRA update: <c>y = W x + b + scaling · B (A dropout(x))</c>.
/// A is <c>lora_A</c> (<c>[r, d_in]</c>), B is <c>lora_B</c> (<c>[d_out, r]</c>, zero at start),
/// the names PEFT uses, so parameter paths match PEFT's state-dict keys.
/// </summary>
/// <remarks>
/// With DoRA (<see cref="UseDora"/>) the layer also holds <c>lora_magnitude_vector</c>
/// (<see cref="DoraMagnitude"/>) and computes what PEFT's <c>DoraLinearVariant</c> does:
/// with <c>f = m / ‖W + s·B A‖</c> per output row (norm detached),
/// <c>y = W x + b + (f − 1) ⊙ W x + f ⊙ s·B (A x)</c>, i.e. <c>f ⊙ (W + s·B A) x + b</c> (the bias is
/// not rescaled). The base term <c>W x</c> is the base output minus its bias; while training with
/// dropout it is recomputed as <c>W dropout(x)</c>, the same dropped input the LoRA branch sees, as PEFT does.
/// </remarks>
public sealed class LoraLinear : AdapterLinear
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly nn.Module<Tensor, Tensor> lora_dropout;
    private readonly DoraMagnitude? lora_magnitude_vector;
    // The row norms ‖W + s·B A‖ taken when DoRA was merged (PEFT caches them the same way): unmerging
    // must divide by the factor used to merge, which cannot be recomputed from the merged weight.
    // Not a registered buffer: set only while merged, outside every dispose scope.
    private Tensor? mergedNorms;

    /// <summary>Wraps <paramref name="baseLayer"/> with a fresh rank-<paramref name="r"/> update.</summary>
    /// <param name="baseLayer">The frozen layer.</param>
    /// <param name="r">Rank of the update.</param>
    /// <param name="scaling">Multiplier of <c>B A x</c> (alpha / r, or alpha / √r for rsLoRA).</param>
    /// <param name="dropout">Dropout probability on the adapter's input.</param>
    /// <param name="init">How A starts (B always starts at zero).</param>
    /// <param name="dtype">dtype of A and B.</param>
    /// <param name="device">Where A and B live; the base layer's device when null.</param>
    /// <param name="useDora">Add DoRA's magnitude vector, initialised as PEFT does to the row norms of <c>W + s·B A</c>.</param>
    public LoraLinear(Linear baseLayer, int r, double scaling, double dropout, LoraInit init, ScalarType dtype, Device? device = null, bool useDora = false)
        : base(nameof(LoraLinear), baseLayer)
    {
        device ??= baseLayer.weight!.device;
        Rank = r;
        Scaling = scaling;
        lora_A = nn.Linear(baseLayer.in_features, r, hasBias: false, device: device, dtype: dtype);
        lora_B = nn.Linear(r, baseLayer.out_features, hasBias: false, device: device, dtype: dtype);
        lora_dropout = dropout > 0 ? nn.Dropout(dropout) : nn.Identity();
        using (no_grad())
        {
            if (init == LoraInit.Gaussian)
                nn.init.normal_(lora_A.weight!, 0, 1.0 / r);
            else
                nn.init.kaiming_uniform_(lora_A.weight!, a: Math.Sqrt(5));
            if (init == LoraInit.Random)
                nn.init.kaiming_uniform_(lora_B.weight!, a: Math.Sqrt(5));
            else
                nn.init.zeros_(lora_B.weight!);
            if (useDora)
            {
                using var scope = NewDisposeScope();
                lora_magnitude_vector = new DoraMagnitude(DoraMagnitude.RowNorms(BaseWeight(), DeltaWeight()));
            }
        }
        RegisterComponents();
    }

    /// <summary>Rank of the update.</summary>
    public int Rank { get; }

    /// <summary>Multiplier of <c>B A x</c>.</summary>
    public double Scaling { get; }

    /// <inheritdoc />
    public override long? AllocatedRank => Rank;

    /// <summary>The down-projection A, <c>[r, d_in]</c>.</summary>
    public Linear LoraA => lora_A;

    /// <summary>The up-projection B, <c>[d_out, r]</c>.</summary>
    public Linear LoraB => lora_B;

    /// <summary>True for a DoRA layer (PEFT's <c>use_dora</c>): the update rescales each output row by <see cref="Magnitude"/>.</summary>
    public bool UseDora => lora_magnitude_vector is not null;

    /// <summary>DoRA's magnitude vector, or null for plain LoRA.</summary>
    public DoraMagnitude? Magnitude => lora_magnitude_vector;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lora_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => true;

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x) => UseDora
        ? DoraDelta(x, baseRows: null)
        : lora_B.forward(lora_A.forward(Dropped(x))).mul_(Scaling);

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x, Tensor baseRows) => UseDora ? DoraDelta(x, baseRows) : Delta(x);

    /// <summary>
    /// <c>result += scaling · (A x) Bᵀ</c> as one <c>addmm_</c>. While autograd records, Bᵀ is passed as
    /// a contiguous <c>[r, d_out]</c> copy (r·d_out elements): backward's <c>∂L/∂h = g B</c> then multiplies
    /// by a transposed operand, which BLAS does markedly faster for thin matrices than with B's own
    /// <c>[d_out, r]</c> layout (`--levers`: the view costs 1.6–1.9× the adapter's time in training).
    /// With no graph the copy buys nothing and Bᵀ stays a view (about 9% of the adapter's inference time
    /// saved; docs/performance.md).
    /// </summary>
    protected override Tensor AddDelta(Tensor result, Tensor x)
    {
        if (UseDora)
            return NeedsGraph(result, x) ? result.add_(DoraDelta(x, result)) : AddDoraInPlace(result, x);
        var h = lora_A.forward(Dropped(x)).reshape(-1, Rank);
        var bT = lora_B.weight!.t();
        bool recording = is_grad_enabled() && (h.requires_grad || bT.requires_grad || result.requires_grad);
        return AddScaledProduct(result, h, recording ? bT.contiguous() : bT, Scaling);
    }

    // The adapter's input after dropout. Without dropout, x itself: TorchSharp's Identity returns an alias,
    // one more tensor handle and, while training, one more autograd node per forward.
    private Tensor Dropped(Tensor x) => lora_dropout is Identity ? x : lora_dropout.forward(x);

    // True when autograd records this forward (something involved requires grad) or dropout acts:
    // then DoRA takes PEFT's out-of-place path, whose saved tensors stay intact.
    private bool NeedsGraph(Tensor result, Tensor x) =>
        (lora_dropout is Dropout && lora_dropout.training) ||
        (is_grad_enabled() && (result.requires_grad || x.requires_grad || lora_A.weight!.requires_grad
                               || lora_B.weight!.requires_grad || lora_magnitude_vector!.Weight.requires_grad));

    /// <summary>
    /// DoRA when nothing needs gradients (inference): the same value, <c>f ⊙ (W x + s·B A x) + b</c>, written into
    /// <paramref name="result"/> in place — one <c>addmm_</c> and two passes over the output instead of PEFT's five temporaries.
    /// </summary>
    private Tensor AddDoraInPlace(Tensor result, Tensor x)
    {
        var factor = lora_magnitude_vector!.Factor(BaseWeight(), DeltaWeight());
        var bias = BaseLayer.bias?.to(result.dtype);
        if (bias is not null) result.sub_(bias);
        var h = lora_A.forward(x).reshape(-1, Rank);
        AddScaledProduct(result, h, lora_B.weight!.t().contiguous(), Scaling).mul_(factor);
        return bias is null ? result : result.add_(bias);
    }

    /// <summary>The update as a weight, <c>scaling · B A</c> (<c>[d_out, d_in]</c>), in the adapter's dtype.</summary>
    public Tensor DeltaWeight() => lora_B.weight!.matmul(lora_A.weight!).mul_(Scaling);

    /// <summary>LoRA's own factors: <c>lora_B.weight</c>, <c>lora_A.weight</c> and the scaling.</summary>
    public override LowRankUpdate? UpdateFactors() => UseDora ? null : new(lora_B.weight!, lora_A.weight!, Scaling);

    /// <inheritdoc />
    public override string NoFactorsReason => UseDora
        ? "it is a DoRA layer: its update rescales whole rows of W, so it is not low-rank factors (merge it to see the weight)"
        : base.NoFactorsReason;

    /// <inheritdoc />
    protected override Tensor MergeDelta() => DeltaWeight();

    /// <summary>LoRA: <c>W += s·B A</c>. DoRA: <c>W = f ⊙ (W + s·B A)</c> with <c>f = m / ‖W + s·B A‖</c>, the norms kept for <see cref="UnmergeFrom"/>.</summary>
    protected override void MergeInto(Tensor weight)
    {
        if (!UseDora)
        {
            base.MergeInto(weight);
            return;
        }
        var w = weight.to(AdapterDtype);
        var delta = DeltaWeight();
        var norms = DoraMagnitude.RowNorms(w, delta);
        weight.copy_((lora_magnitude_vector!.Weight / norms).unsqueeze(1) * (w + delta));
        mergedNorms?.Dispose();
        mergedNorms = norms.DetachFromDisposeScope();
    }

    /// <summary>LoRA: <c>W -= s·B A</c>. DoRA: <c>W = W / f − s·B A</c>, with the norms taken at merge time (PEFT's unmerge).</summary>
    protected override void UnmergeFrom(Tensor weight)
    {
        if (!UseDora)
        {
            base.UnmergeFrom(weight);
            return;
        }
        var norms = mergedNorms ?? throw new InvalidOperationException("DoRA layer marked merged without the norms it was merged with.");
        var factor = lora_magnitude_vector!.Weight / norms.to(AdapterDtype, weight.device);
        weight.copy_(weight.to(AdapterDtype) / factor.unsqueeze(1) - DeltaWeight());
        mergedNorms = null;
        norms.Dispose();
    }

    /// <summary>PEFT saves DoRA's magnitude as <c>…lora_magnitude_vector</c>, without <c>.weight</c> (its files predate the module).</summary>
    protected internal override string FileKeyOf(string parameterName) =>
        parameterName == MagnitudeParameter ? "lora_magnitude_vector" : parameterName;

    private const string MagnitudeParameter = "lora_magnitude_vector." + DoraMagnitude.ParameterName;

    // The base weight in the adapter's dtype and device (a view when they match).
    private Tensor BaseWeight() => BaseLayer.weight!.to(AdapterDtype, lora_A.weight!.device);

    /// <summary>
    /// DoRA's update rows <c>[N, d_out]</c>: <c>(f − 1) ⊙ W x + f ⊙ s·B (A x)</c>, PEFT's <c>DoraLinearLayer.forward</c>.
    /// <c>W x</c> is <paramref name="baseRows"/> minus the bias when given and the dropout is off, else recomputed from the (dropped) input.
    /// </summary>
    private Tensor DoraDelta(Tensor x, Tensor? baseRows)
    {
        var w = BaseWeight();
        Tensor delta;
        using (no_grad()) delta = DeltaWeight();
        var factor = lora_magnitude_vector!.Factor(w, delta).unsqueeze(0);
        bool dropping = lora_dropout is Dropout && lora_dropout.training;
        var input = (dropping ? lora_dropout.forward(x) : x).reshape(-1, InFeatures);
        Tensor baseTerm;
        if (baseRows is null || dropping)
            baseTerm = nn.functional.linear(input, w);
        else if (BaseLayer.bias is { } bias)
            baseTerm = (baseRows - bias).to(AdapterDtype);
        else
            baseTerm = baseRows.to(AdapterDtype).clone();    // a copy: the caller adds into baseRows in place, and backward needs this term
        var lora = lora_B.forward(lora_A.forward(input));
        return ((factor - 1) * baseTerm).add_(factor * lora * Scaling);
    }
}
