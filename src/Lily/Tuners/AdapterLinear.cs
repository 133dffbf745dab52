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

        // Temporaries die with this scope; autograd keeps what backward needs alive natively.
        using var scope = NewDisposeScope();
        var result = base_layer.forward(input);
        var x = input.dtype == AdapterDtype ? input : input.to(AdapterDtype);
        var delta = Delta(x);
        if (delta.dtype != result.dtype) delta = delta.to(result.dtype);
        return result.add_(delta).MoveToOuterDisposeScope();
    }

    /// <summary>The adapter's update for an input already cast to <see cref="AdapterDtype"/>.</summary>
    protected abstract Tensor Delta(Tensor x);

    /// <summary>Folds the update into the base weight, so forward costs what the base layer costs.</summary>
    /// <exception cref="NotSupportedException">The method's update depends on the input.</exception>
    public abstract void Merge();

    /// <summary>Subtracts a merged update from the base weight again.</summary>
    public abstract void Unmerge();
}
