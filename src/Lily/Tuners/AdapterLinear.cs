using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Base of every adapter layer: a frozen <see cref="Linear"/> (registered as <c>base_layer</c>,
/// as in PEFT) plus a trainable update computed by <see cref="Delta"/>.
/// <c>y = base_layer(x) + Delta(x)</c>, with the input cast to the adapter's dtype and the
/// update cast back to the base output's dtype.
/// </summary>
public abstract class AdapterLinear : nn.Module<Tensor, Tensor>
{
    private readonly Linear base_layer;

    /// <summary>Creates the layer around <paramref name="baseLayer"/>.</summary>
    /// <param name="name">The module's type name, e.g. <c>LoraLinear</c>.</param>
    /// <param name="baseLayer">The frozen Linear this layer adapts.</param>
    protected AdapterLinear(string name, Linear baseLayer) : base(name)
    {
        base_layer = baseLayer ?? throw new ArgumentNullException(nameof(baseLayer));
    }

    /// <summary>The wrapped Linear layer, whose parameters stay frozen.</summary>
    public Linear BaseLayer => base_layer;

    /// <summary>Input features of the base layer.</summary>
    public long InFeatures => base_layer.in_features;

    /// <summary>Output features of the base layer.</summary>
    public long OutFeatures => base_layer.out_features;

    /// <summary>When true, forward returns the base layer's output alone.</summary>
    public bool AdapterDisabled { get; set; }

    /// <summary>True while the update is folded into the base weight (see <see cref="Merge"/>).</summary>
    public bool Merged { get; protected set; }

    /// <summary>The dtype of the adapter's own parameters.</summary>
    public abstract ScalarType AdapterDtype { get; }

    /// <summary>Whether the update can be folded into the base weight.</summary>
    public abstract bool CanMerge { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (AdapterDisabled || Merged) return base_layer.forward(input);
        if (input.dim() == 0 || input.shape[^1] != InFeatures)
            throw new ArgumentException($"Expected an input whose last dimension is {InFeatures}, got shape [{string.Join(", ", input.shape)}].", nameof(input));

        // Temporaries die with this scope; autograd keeps what backward needs alive natively.
        using var scope = NewDisposeScope();
        // The base layer runs on the rows [N, d_in], so its output is a tensor of its own rather than
        // a view of one: the update can then be accumulated into it in place (by one GEMM, see
        // AddDelta) without a temporary of the output's size, and without autograd having to rebuild
        // a viewed base (CopySlices) in backward.
        var result = base_layer.forward(input.reshape(-1, InFeatures));
        var x = input.dtype == AdapterDtype ? input : input.to(AdapterDtype);
        result = result.dtype == AdapterDtype
            ? AddDelta(result, x)
            : result.add_(Delta(x).reshape(-1, OutFeatures).to(result.dtype));
        return result.view([.. input.shape[..^1], OutFeatures]).MoveToOuterDisposeScope();
    }

    /// <summary>The adapter's update for an input already cast to <see cref="AdapterDtype"/>, shaped <c>[..., d_out]</c>.</summary>
    protected abstract Tensor Delta(Tensor x);

    /// <summary>
    /// Adds the update for <paramref name="x"/> (cast to <see cref="AdapterDtype"/>, in the caller's
    /// shape) into <paramref name="result"/>, the base output as rows <c>[N, d_out]</c> of the same
    /// dtype, and returns the sum. The default adds <see cref="Delta"/> in place; a method whose
    /// update ends in a matrix product overrides this to fold product and sum into one <c>addmm_</c>.
    /// </summary>
    protected virtual Tensor AddDelta(Tensor result, Tensor x) => result.add_(Delta(x).reshape(-1, OutFeatures));

    /// <summary>Folds the update into the base weight, so forward costs what the base layer costs.</summary>
    /// <exception cref="NotSupportedException">The method's update depends on the input.</exception>
    public abstract void Merge();

    /// <summary>Subtracts a merged update from the base weight again.</summary>
    public abstract void Unmerge();
}
