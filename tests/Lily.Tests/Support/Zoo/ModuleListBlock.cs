using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>Block whose Linears live in ModuleLists and are reached by index: proj[0] = q, proj[1] = v, mlp[0] = fc1, mlp[1] = fc2.</summary>
public sealed class ModuleListBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> proj;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> mlp;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between mlp[0] and mlp[1].</param>
    public ModuleListBlock(long dim, long hidden) : base(nameof(ModuleListBlock))
    {
        proj = nn.ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(dim, dim), nn.Linear(dim, dim));
        mlp = nn.ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(dim, hidden), nn.Linear(hidden, dim));
        RegisterComponents();
    }

    /// <summary>x + proj[1](tanh(proj[0](x))), then + mlp[1](tanh(mlp[0](·))).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + proj[1].call(proj[0].call(x).tanh());
        x = x + mlp[1].call(mlp[0].call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
