using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.FashionMnist;

/// <summary>
/// Multi-head self-attention written out by hand with four projections <c>q_proj</c>,
/// <c>k_proj</c>, <c>v_proj</c>, <c>o_proj</c>: <c>[B, T, dim]</c> → <c>[B, T, dim]</c>.
/// </summary>
/// <remarks>
/// The projections are separate <see cref="TorchSharp.Modules.Linear"/> children, not one fused
/// QKV matrix or a built-in attention module, so a PEFT library can find them by path
/// (<c>blocks.0.attn.q_proj</c>) and put an adapter in their place. The fields are declared as
/// <see cref="Module{T, TResult}"/> and read on every forward, so a replacement assigned to a field
/// takes effect at once.
/// </remarks>
public sealed class Attention : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> q_proj;
    private Module<Tensor, Tensor> k_proj;
    private Module<Tensor, Tensor> v_proj;
    private Module<Tensor, Tensor> o_proj;

    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _scale;

    /// <summary>Creates the attention layer.</summary>
    /// <param name="dim">Model width; must be divisible by <paramref name="heads"/>.</param>
    /// <param name="heads">Number of attention heads.</param>
    /// <param name="name">The module's name.</param>
    public Attention(int dim, int heads, string name = "attn")
        : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        if (dim % heads != 0) throw new ArgumentException($"Width {dim} is not divisible by {heads} heads.", nameof(heads));
        _heads = heads;
        _headDim = dim / heads;
        _scale = 1.0 / Math.Sqrt(_headDim);
        q_proj = Linear(dim, dim);
        k_proj = Linear(dim, dim);
        v_proj = Linear(dim, dim);
        o_proj = Linear(dim, dim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        long batch = input.shape[0], tokens = input.shape[1], dim = input.shape[2];
        using var scope = NewDisposeScope();

        // [B, T, dim] -> [B, heads, T, headDim]: each head attends on its own slice of the width.
        var q = SplitHeads(q_proj.call(input), batch, tokens);
        var k = SplitHeads(k_proj.call(input), batch, tokens);
        var v = SplitHeads(v_proj.call(input), batch, tokens);

        var scores = q.matmul(k.transpose(-2, -1)).mul_(_scale);   // [B, heads, T, T]
        var weights = scores.softmax(-1);
        var context = weights.matmul(v)                              // [B, heads, T, headDim]
            .transpose(1, 2)
            .reshape(batch, tokens, dim);
        return o_proj.call(context).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor x, long batch, long tokens) =>
        x.view(batch, tokens, _heads, _headDim).transpose(1, 2);
}
