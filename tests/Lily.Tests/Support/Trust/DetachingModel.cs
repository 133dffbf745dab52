using static TorchSharp.torch;

namespace Lily.Tests.Support.Trust;

/// <summary>How <see cref="DetachingModel"/> runs its first layer <c>a</c>.</summary>
public enum Cut
{
    /// <summary>Normally: the loss reaches <c>a</c>.</summary>
    None,

    /// <summary><c>a</c> runs with gradients off.</summary>
    NoGrad,

    /// <summary><c>a</c>'s output is detached before it is used.</summary>
    Detached,
}

/// <summary>
/// <c>x + a(x)</c> then <c>h + b(h)</c>, both layers in fields typed <c>Module&lt;Tensor, Tensor&gt;</c>
/// (replaceable); <see cref="Cut"/> keeps the loss from reaching <c>a</c> in one of two ways.
/// </summary>
public sealed class DetachingModel : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> a;
    private readonly nn.Module<Tensor, Tensor> b;

    /// <summary>Features in and out.</summary>
    public const long Dim = 6;

    /// <summary>Creates the model.</summary>
    public DetachingModel() : base(nameof(DetachingModel))
    {
        a = nn.Linear(Dim, Dim);
        b = nn.Linear(Dim, Dim);
        RegisterComponents();
    }

    /// <summary>How the next forward runs <c>a</c>.</summary>
    public Cut Cut { get; set; }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        Tensor first;
        if (Cut == Cut.NoGrad)
        {
            using (no_grad()) first = a.call(x);
        }
        else
        {
            first = a.call(x);
            if (Cut == Cut.Detached) first = first.detach();
        }
        var h = x + first;
        return h + b.call(h);
    }
}
