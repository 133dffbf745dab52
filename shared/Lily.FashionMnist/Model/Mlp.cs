using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.FashionMnist;

/// <summary>
/// The transformer feed-forward block <c>fc2(GELU(fc1(x)))</c>, widening to
/// <c>hidden</c> and back to <c>dim</c>.
/// </summary>
/// <remarks>
/// <c>fc1</c> and <c>fc2</c> are declared as <see cref="Module{T, TResult}"/> so a PEFT library can
/// replace them with adapters; forward reads the fields every time.
/// </remarks>
public sealed class Mlp : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> fc1;
    private Module<Tensor, Tensor> act;
    private Module<Tensor, Tensor> fc2;

    /// <summary>Creates the feed-forward block.</summary>
    /// <param name="dim">Input and output width.</param>
    /// <param name="hidden">Width of the hidden layer.</param>
    /// <param name="name">The module's name.</param>
    public Mlp(int dim, int hidden, string name = "mlp")
        : base(name)
    {
        fc1 = Linear(dim, hidden);
        act = GELU();
        fc2 = Linear(hidden, dim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var hidden = fc1.call(input);
        using var activated = act.call(hidden);
        return fc2.call(activated);
    }
}
