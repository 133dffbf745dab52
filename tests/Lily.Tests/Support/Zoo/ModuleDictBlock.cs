using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Block whose Linears are reached by key: <c>attn</c> is a <c>ModuleDict&lt;nn.Module&lt;Tensor, Tensor&gt;&gt;</c>
/// {q_proj, v_proj}; <c>mlp</c> is a <c>ModuleDict&lt;Linear&gt;</c> {fc1, fc2}, whose element type admits only Linear.
/// </summary>
public sealed class ModuleDictBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> attn;
    private readonly ModuleDict<Linear> mlp;

    /// <summary>Creates the block.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between fc1 and fc2.</param>
    public ModuleDictBlock(long dim, long hidden) : base(nameof(ModuleDictBlock))
    {
        attn = nn.ModuleDict<nn.Module<Tensor, Tensor>>(("q_proj", nn.Linear(dim, dim)), ("v_proj", nn.Linear(dim, dim)));
        mlp = nn.ModuleDict(("fc1", nn.Linear(dim, hidden)), ("fc2", nn.Linear(hidden, dim)));
        RegisterComponents();
    }

    /// <summary>x + v(tanh(q(x))), then + fc2(tanh(fc1(·))).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + attn["v_proj"].call(attn["q_proj"].call(x).tanh());
        x = x + mlp["fc2"].call(mlp["fc1"].call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
