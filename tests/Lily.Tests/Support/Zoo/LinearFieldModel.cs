using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (a): a ModuleList of <see cref="LinearFieldBlock"/>, whose Linears are fields typed <see cref="Linear"/>.
/// Linear paths: <c>layers.{i}.q_proj</c>, <c>layers.{i}.v_proj</c>, <c>layers.{i}.fc1</c>, <c>layers.{i}.fc2</c>.
/// </summary>
public sealed class LinearFieldModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LinearFieldBlock> layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="hidden">Features inside each block's MLP.</param>
    /// <param name="depth">Number of blocks.</param>
    /// <param name="qProjThroughForward">Blocks call <c>q_proj.forward(x)</c> directly, bypassing its hooks (see <see cref="Zoo.CreateDirectForward"/>).</param>
    public LinearFieldModel(long dim, long hidden, int depth, bool qProjThroughForward = false) : base(nameof(LinearFieldModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new LinearFieldBlock(dim, hidden, qProjThroughForward)).ToArray());
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
