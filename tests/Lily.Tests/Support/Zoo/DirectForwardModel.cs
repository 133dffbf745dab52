using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Not in the zoo's list: like <see cref="LinearFieldModel"/> but each block calls <c>q_proj.forward(x)</c>
/// directly, so hooks on q_proj never fire. For testing that adapters which are never applied get reported.
/// Linear paths: <c>layers.{i}.q_proj</c>, <c>layers.{i}.v_proj</c>, <c>layers.{i}.fc1</c>, <c>layers.{i}.fc2</c>.
/// </summary>
public sealed class DirectForwardModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<DirectForwardBlock> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features inside each block's MLP.</param>
    /// <param name="depth">Number of blocks.</param>
    public DirectForwardModel(long dim, long hidden, int depth) : base(nameof(DirectForwardModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new DirectForwardBlock(dim, hidden)).ToArray());
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
