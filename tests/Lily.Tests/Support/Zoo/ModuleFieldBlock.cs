using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Block whose projections sit in writable fields typed <c>nn.Module&lt;Tensor, Tensor&gt;</c>, so a module
/// of another type (an adapter) can take a Linear's place.
/// </summary>
public sealed class ModuleFieldBlock : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> fc1;
    private nn.Module<Tensor, Tensor> fc2;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between fc1 and fc2.</param>
    public ModuleFieldBlock(long dim, long hidden) : base(nameof(ModuleFieldBlock))
    {
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
        x = x + v_proj.call(q_proj.call(x).tanh());
        x = x + fc2.call(fc1.call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
