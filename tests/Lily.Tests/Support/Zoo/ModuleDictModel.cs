using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (f): a ModuleList of <see cref="ModuleDictBlock"/>, whose Linears sit in ModuleDicts.
/// Linear paths: <c>layers.{i}.attn.q_proj</c>, <c>layers.{i}.attn.v_proj</c>, <c>layers.{i}.mlp.fc1</c>, <c>layers.{i}.mlp.fc2</c>.
/// </summary>
public sealed class ModuleDictModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ModuleDictBlock> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features inside each block's MLP.</param>
    /// <param name="depth">Number of blocks.</param>
    public ModuleDictModel(long dim, long hidden, int depth) : base(nameof(ModuleDictModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new ModuleDictBlock(dim, hidden)).ToArray());
        RegisterComponents();
    }

    /// <summary>Applies the blocks in order.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x = layer.call(x);
        return x.MoveToOuterDisposeScope();
    }
}
