using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Samples.QuickStart;

/// <summary>
/// A small pre-norm transformer encoder with a classifier head, standing in for a user's model. It is
/// written as TorchSharp's own models are: concrete <c>Linear</c> fields called through <c>call()</c>.
/// </summary>
public sealed class TinyTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm norm;
    private readonly Linear head;

    public TinyTransformer(int dim, int depth, int classes) : base(nameof(TinyTransformer))
    {
        blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new Block(dim)).ToArray());
        norm = nn.LayerNorm(dim);
        head = nn.Linear(dim, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in blocks) x = block.call(x);
        return head.call(norm.call(x).mean([1])).MoveToOuterDisposeScope();
    }

    /// <summary>Single-head attention and an MLP, with Linear-typed fields (adapters attach to them by forward hooks).</summary>
    public sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm ln1, ln2;
        private readonly Linear q_proj, k_proj, v_proj, fc1, fc2;

        public Block(int dim) : base(nameof(Block))
        {
            ln1 = nn.LayerNorm(dim);
            ln2 = nn.LayerNorm(dim);
            q_proj = nn.Linear(dim, dim);
            k_proj = nn.Linear(dim, dim);
            v_proj = nn.Linear(dim, dim);
            fc1 = nn.Linear(dim, 2 * dim);
            fc2 = nn.Linear(2 * dim, dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = ln1.call(x);
            var attention = q_proj.call(h).matmul(k_proj.call(h).transpose(1, 2)).div(Math.Sqrt(h.shape[^1])).softmax(-1);
            x = x + attention.matmul(v_proj.call(h));
            x = x + fc2.call(nn.functional.gelu(fc1.call(ln2.call(x))));
            return x.MoveToOuterDisposeScope();
        }
    }
}
