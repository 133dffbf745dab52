using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.FashionMnist;

/// <summary>
/// A pre-norm transformer encoder block: <c>x + attn(ln1(x))</c>, then <c>x + mlp(ln2(x))</c>.
/// </summary>
/// <remarks>
/// Pre-norm (normalizing the input of each branch rather than the sum) trains stably without a
/// learning-rate warm-up, which matters for the few epochs this sample can afford.
/// </remarks>
public sealed class TransformerBlock : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> ln1;
    private Module<Tensor, Tensor> attn;
    private Module<Tensor, Tensor> ln2;
    private Module<Tensor, Tensor> mlp;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Model width.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dim"/>.</param>
    /// <param name="mlpHidden">Width of the feed-forward hidden layer.</param>
    /// <param name="name">The module's name.</param>
    public TransformerBlock(int dim, int heads, int mlpHidden, string name = "block")
        : base(name)
    {
        ln1 = LayerNorm(dim);
        attn = new Attention(dim, heads);
        ln2 = LayerNorm(dim);
        mlp = new Mlp(dim, mlpHidden);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input + attn.call(ln1.call(input));
        x = x + mlp.call(ln2.call(x));
        return x.MoveToOuterDisposeScope();
    }
}
