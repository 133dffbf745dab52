using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (e): a ModuleList of residual <see cref="Sequential"/> MLPs, Linear → Tanh → Linear (tanh: libtorch's meta device has no relu kernel), called as a whole
/// (TorchSharp's Sequential runs its children through <c>call</c>).
/// Positional children are named "0", "1", "2": Linear paths <c>layers.{i}.0</c>, <c>layers.{i}.2</c>.
/// Named children are "fc1", "act", "fc2": Linear paths <c>layers.{i}.fc1</c>, <c>layers.{i}.fc2</c>.
/// </summary>
public sealed class SequentialModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Sequential> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features between the two Linears.</param>
    /// <param name="depth">Number of MLPs.</param>
    /// <param name="named">true for children named fc1, act, fc2; false for positional children 0, 1, 2.</param>
    public SequentialModel(long dim, long hidden, int depth, bool named) : base(nameof(SequentialModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => named
            ? nn.Sequential(("fc1", nn.Linear(dim, hidden)), ("act", nn.Tanh()), ("fc2", nn.Linear(hidden, dim)))
            : nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))).ToArray());
        RegisterComponents();
    }

    /// <summary>x + mlp(x) for each MLP in order.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x = x + layer.call(x);
        return x.MoveToOuterDisposeScope();
    }
}
