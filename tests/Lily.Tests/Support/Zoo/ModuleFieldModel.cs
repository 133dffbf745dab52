using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (b): a ModuleList of <see cref="ModuleFieldBlock"/>, whose Linears are fields typed <c>nn.Module&lt;Tensor, Tensor&gt;</c>.
/// Linear paths: <c>layers.{i}.q_proj</c>, <c>layers.{i}.v_proj</c>, <c>layers.{i}.fc1</c>, <c>layers.{i}.fc2</c>.
/// </summary>
public sealed class ModuleFieldModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ModuleFieldBlock> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features inside each block's MLP.</param>
    /// <param name="depth">Number of blocks.</param>
    public ModuleFieldModel(long dim, long hidden, int depth) : base(nameof(ModuleFieldModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new ModuleFieldBlock(dim, hidden)).ToArray());
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
