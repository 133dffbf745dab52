using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// A Linear layer with a LoRA update: <c>y = W x + b + scaling · B (A dropout(x))</c>.
/// A is <c>lora_A</c> (<c>[r, d_in]</c>), B is <c>lora_B</c> (<c>[d_out, r]</c>, zero at start),
/// the names PEFT uses, so parameter paths match PEFT's state-dict keys.
/// </summary>
/// <remarks>
/// A layer may hold a variant (PEFT's <c>LoraVariant</c>) that computes its update, merge and unmerge
/// instead of plain LoRA; plain LoRA has none. With DoRA (<see cref="UseDora"/>) the variant is
/// <see cref="DoraLinearVariant"/>, and the layer also holds its <c>lora_magnitude_vector</c>
/// (<see cref="DoraMagnitude"/>), registered here under PEFT's name.
/// </remarks>
public sealed class LoraLinear : AdapterLinear
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly nn.Module<Tensor, Tensor> lora_dropout;
    // The DoRA variant's magnitude, a field so that RegisterComponents registers it under PEFT's name.
    private readonly DoraMagnitude? lora_magnitude_vector;
    // Null for plain LoRA. Not a Module, so RegisterComponents leaves it alone.
    private readonly LoraVariant? variant;

    /// <summary>The name of DoRA's magnitude module in the layer (PEFT's).</summary>
    internal const string MagnitudeModule = nameof(lora_magnitude_vector);

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
        }
        if (useDora)
        {
            var dora = new DoraLinearVariant(this);
            variant = dora;
            lora_magnitude_vector = dora.Magnitude;
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
    public bool UseDora => variant is DoraLinearVariant;

    /// <summary>DoRA's magnitude vector, or null for plain LoRA.</summary>
    public DoraMagnitude? Magnitude => lora_magnitude_vector;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lora_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => true;

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x) => variant is not null
        ? variant.Delta(x, baseRows: null)
        : lora_B.forward(lora_A.forward(Dropped(x))).mul_(Scaling);

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x, Tensor baseRows) => variant is not null ? variant.Delta(x, baseRows) : Delta(x);

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
        if (variant is not null) return variant.AddDelta(result, x);
        var h = lora_A.forward(Dropped(x)).reshape(-1, Rank);
        var bT = lora_B.weight!.t();
        bool recording = is_grad_enabled() && (h.requires_grad || bT.requires_grad || result.requires_grad);
        return AddScaledProduct(result, h, recording ? bT.contiguous() : bT, Scaling);
    }

    /// <summary><c>result += scaling · h bT</c> in one <c>addmm_</c>, for a variant.</summary>
    internal Tensor AddScaledLora(Tensor result, Tensor h, Tensor bT) => AddScaledProduct(result, h, bT, Scaling);

    /// <summary>The dropout on the adapter's input (an <c>Identity</c> without dropout), for a variant.</summary>
    internal nn.Module<Tensor, Tensor> Dropout => lora_dropout;

    // The adapter's input after dropout. Without dropout, x itself: TorchSharp's Identity returns an alias,
    // one more tensor handle and, while training, one more autograd node per forward.
    private Tensor Dropped(Tensor x) => lora_dropout is Identity ? x : lora_dropout.forward(x);

    /// <summary>The update as a weight, <c>scaling · B A</c> (<c>[d_out, d_in]</c>), in the adapter's dtype.</summary>
    public Tensor DeltaWeight() => lora_B.weight!.matmul(lora_A.weight!).mul_(Scaling);

    /// <summary>LoRA's own factors: <c>lora_B.weight</c>, <c>lora_A.weight</c> and the scaling; null when a variant's update is not those factors.</summary>
    public override LowRankUpdate? UpdateFactors() => variant?.NoFactorsReason is null ? new(lora_B.weight!, lora_A.weight!, Scaling) : null;

    /// <inheritdoc />
    public override string NoFactorsReason => variant?.NoFactorsReason ?? base.NoFactorsReason;

    /// <inheritdoc />
    protected override Tensor MergeDelta() => DeltaWeight();

    /// <summary>LoRA: <c>W += s·B A</c>; a variant merges its own way (DoRA: <see cref="DoraLinearVariant.MergeInto"/>).</summary>
    protected override void MergeInto(Tensor weight)
    {
        if (variant is not null) variant.MergeInto(weight);
        else base.MergeInto(weight);
    }

    /// <summary>LoRA: <c>W -= s·B A</c>; a variant unmerges its own way (DoRA: <see cref="DoraLinearVariant.UnmergeFrom"/>).</summary>
    protected override void UnmergeFrom(Tensor weight)
    {
        if (variant is not null) variant.UnmergeFrom(weight);
        else base.UnmergeFrom(weight);
    }

    /// <inheritdoc />
    protected internal override string FileKeyOf(string parameterName) => variant?.FileKeyOf(parameterName) ?? parameterName;

    /// <summary>The base weight in the adapter's dtype and device (a view when they match).</summary>
    internal Tensor BaseWeight() => BaseLayer.weight!.to(AdapterDtype, lora_A.weight!.device);
}
