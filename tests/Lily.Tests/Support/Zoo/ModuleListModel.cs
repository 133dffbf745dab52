using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (c): a ModuleList of <see cref="ModuleListBlock"/>, each holding its Linears in
/// <c>ModuleList&lt;nn.Module&lt;Tensor, Tensor&gt;&gt;</c>s.
/// Linear paths: <c>layers.{i}.proj.0</c> (q), <c>layers.{i}.proj.1</c> (v), <c>layers.{i}.mlp.0</c>, <c>layers.{i}.mlp.1</c>.
/// </summary>
public sealed class ModuleListModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ModuleListBlock> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features inside each block's MLP.</param>
    /// <param name="depth">Number of blocks.</param>
    public ModuleListModel(long dim, long hidden, int depth) : base(nameof(ModuleListModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new ModuleListBlock(dim, hidden)).ToArray());
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
