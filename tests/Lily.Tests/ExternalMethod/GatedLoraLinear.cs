using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// A Linear layer with a gated LoRA update: <c>y = W x + b + tanh(g) · scaling · B A x</c>.
/// The registered children are named as the saved keys should read: <c>lora_A</c>, <c>lora_B</c>
/// (Linear, no bias) and <c>lora_gate</c> (<see cref="GatedLoraGate"/>).
/// </summary>
public sealed class GatedLoraLinear : AdapterLinear
{
    // begin-snippet: gated-layer-ctor
    private readonly Linear lora_A;
    private readonly Linear lora_B;
    private readonly GatedLoraGate lora_gate;

    /// <summary>Creates the update for <paramref name="baseLayer"/>.</summary>
    /// <param name="baseLayer">The frozen layer (held by reference; the model owns it).</param>
    /// <param name="r">Rank of the update.</param>
    /// <param name="scaling">Multiplier of <c>B A x</c> before the gate.</param>
    /// <param name="gateInit">Initial gate g.</param>
    /// <param name="dtype">dtype of A, B and g.</param>
    /// <param name="device">Where A, B and g live.</param>
    public GatedLoraLinear(Linear baseLayer, int r, double scaling, double gateInit, ScalarType dtype, Device device)
        : base(nameof(GatedLoraLinear), baseLayer)
    {
        Rank = r;
        Scaling = scaling;
        // Both factors keep nn.Linear's random init: the gate, not B = 0, makes the start a no-op.
        // (With B = 0 and g = 0 every gradient would be zero and nothing would ever train.)
        lora_A = nn.Linear(baseLayer.in_features, r, hasBias: false, device: device, dtype: dtype);
        lora_B = nn.Linear(r, baseLayer.out_features, hasBias: false, device: device, dtype: dtype);
        lora_gate = new GatedLoraGate(gateInit, dtype, device);
        RegisterComponents();
    }
    // end-snippet

    /// <summary>Rank of the update.</summary>
    public int Rank { get; }

    /// <summary>Multiplier of <c>B A x</c> before the gate.</summary>
    public double Scaling { get; }

    /// <summary>The down-projection A, <c>[r, d_in]</c>.</summary>
    public Linear LoraA => lora_A;

    /// <summary>The up-projection B, <c>[d_out, r]</c>.</summary>
    public Linear LoraB => lora_B;

    /// <summary>The gate g, shape <c>[]</c>.</summary>
    public Parameter Gate => lora_gate.Weight;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lora_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => true;

    /// <summary><c>tanh(g) · scaling</c> as a tensor of shape <c>[]</c>, so gradients reach g.</summary>
    // begin-snippet: gated-layer-update
    private Tensor Factor() => Gate.tanh().mul(Scaling);

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x) => lora_B.forward(lora_A.forward(x)).mul(Factor());

    /// <summary>
    /// <c>result += (tanh(g) · scaling · A x) Bᵀ</c> as one <c>addmm_</c>. The factor multiplies the
    /// small <c>[N, r]</c> activation, not <c>addmm_</c>'s <c>alpha</c>, which takes a number and would
    /// cut the gradient to g.
    /// </summary>
    protected override Tensor AddDelta(Tensor result, Tensor x)
    {
        var h = lora_A.forward(x).reshape(-1, Rank).mul(Factor());
        return result.addmm_(h, lora_B.weight!.t());
    }
    // end-snippet

    /// <summary>The update as a weight, <c>tanh(g) · scaling · B A</c> (<c>[d_out, d_in]</c>), in the adapter's dtype.</summary>
    // begin-snippet: gated-layer-merge
    public Tensor DeltaWeight() => lora_B.weight!.matmul(lora_A.weight!).mul_(Factor());

    /// <inheritdoc />
    protected override Tensor MergeDelta() => DeltaWeight();
    // end-snippet
}
