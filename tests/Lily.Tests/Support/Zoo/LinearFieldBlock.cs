using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Block whose projections sit in fields typed with the concrete <see cref="Linear"/>, as TorchSharp's own
/// models declare them: an adapter cannot be stored back into such a field.
/// </summary>
public sealed class LinearFieldBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj;
    private readonly Linear v_proj;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly bool qProjThroughForward;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between fc1 and fc2.</param>
    /// <param name="qProjThroughForward">Call <c>q_proj.forward(x)</c> directly, as some models do: its hooks never fire.</param>
    public LinearFieldBlock(long dim, long hidden, bool qProjThroughForward = false) : base(nameof(LinearFieldBlock))
    {
        this.qProjThroughForward = qProjThroughForward;
        q_proj = nn.Linear(dim, dim);
        v_proj = nn.Linear(dim, dim);
        fc1 = nn.Linear(dim, hidden);
        fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    /// <summary>x + v(tanh(q(x))), then + fc2(tanh(fc1(·))).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var q = qProjThroughForward ? q_proj.forward(x) : q_proj.call(x);
        x = x + v_proj.call(q.tanh());
        x = x + fc2.call(fc1.call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
