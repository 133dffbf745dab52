using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// A Linear layer with a LoRA update: <c>y = W x + b + scaling · B (A dropout(x))</c>.
/// A is <c>lora_A</c> (<c>[r, d_in]</c>), B is <c>lora_B</c> (<c>[d_out, r]</c>, zero at start),
/// the names PEFT uses, so parameter paths match PEFT's state-dict keys.
/// </summary>
public sealed class LoraLinear : AdapterLinear
{
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly nn.Module<Tensor, Tensor> lora_dropout;

    /// <summary>Wraps <paramref name="baseLayer"/> with a fresh rank-<paramref name="r"/> update.</summary>
    /// <param name="baseLayer">The frozen layer.</param>
    /// <param name="r">Rank of the update.</param>
    /// <param name="scaling">Multiplier of <c>B A x</c> (alpha / r, or alpha / √r for rsLoRA).</param>
    /// <param name="dropout">Dropout probability on the adapter's input.</param>
    /// <param name="init">How A starts (B always starts at zero).</param>
    /// <param name="dtype">dtype of A and B.</param>
    /// <param name="device">Where A and B live; the base layer's device when null.</param>
    public LoraLinear(Linear baseLayer, int r, double scaling, double dropout, LoraInit init, ScalarType dtype, Device? device = null)
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
        RegisterComponents();
    }

    /// <summary>Rank of the update.</summary>
    public int Rank { get; }

    /// <summary>Multiplier of <c>B A x</c>.</summary>
    public double Scaling { get; }

    /// <summary>The down-projection A, <c>[r, d_in]</c>.</summary>
    public Linear LoraA => lora_A;

    /// <summary>The up-projection B, <c>[d_out, r]</c>.</summary>
    public Linear LoraB => lora_B;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lora_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => true;

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x) =>
        lora_B.forward(lora_A.forward(lora_dropout.forward(x))).mul_(Scaling);

    /// <summary>
    /// <c>result += scaling · (A x) Bᵀ</c> as one <c>addmm_</c>. Bᵀ is passed as a contiguous
    /// <c>[r, d_out]</c> copy (r·d_out elements): backward's <c>∂L/∂h = g B</c> then multiplies by a
    /// transposed operand, which BLAS does markedly faster for thin matrices than with B's own
    /// <c>[d_out, r]</c> layout.
    /// </summary>
    protected override Tensor AddDelta(Tensor result, Tensor x)
    {
        var h = lora_A.forward(lora_dropout.forward(x)).reshape(-1, Rank);
        return result.addmm_(h, lora_B.weight!.t().contiguous(), beta: 1, alpha: (float)Scaling);
    }

    /// <summary>The update as a weight, <c>scaling · B A</c> (<c>[d_out, d_in]</c>), in the adapter's dtype.</summary>
    public Tensor DeltaWeight() => lora_B.weight!.matmul(lora_A.weight!).mul_(Scaling);

    /// <summary>LoRA's own factors: <c>lora_B.weight</c>, <c>lora_A.weight</c> and the scaling.</summary>
    public override LowRankUpdate? UpdateFactors() => new(lora_B.weight!, lora_A.weight!, Scaling);

    /// <inheritdoc />
    protected override Tensor MergeDelta() => DeltaWeight();
}
