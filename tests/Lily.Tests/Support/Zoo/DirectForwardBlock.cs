using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Like <see cref="LinearFieldBlock"/>, but q_proj is run with <c>forward</c> instead of <c>call</c>, which
/// bypasses forward hooks: an adapter attached to q_proj by a hook is never applied.
/// </summary>
public sealed class DirectForwardBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj;
    private readonly Linear v_proj;
    private readonly Linear fc1;
    private readonly Linear fc2;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between fc1 and fc2.</param>
    public DirectForwardBlock(long dim, long hidden) : base(nameof(DirectForwardBlock))
    {
        q_proj = nn.Linear(dim, dim);
        v_proj = nn.Linear(dim, dim);
        fc1 = nn.Linear(dim, hidden);
        fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    /// <summary>x + v(tanh(q(x))), then + fc2(tanh(fc1(·))); q_proj deliberately through <c>forward</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + v_proj.call(q_proj.forward(x).tanh());
        x = x + fc2.call(fc1.call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
