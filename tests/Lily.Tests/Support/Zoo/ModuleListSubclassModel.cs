using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (d): the Linears live in a <see cref="LinearStack"/>, a user subclass of <c>ModuleList&lt;Linear&gt;</c>.
/// Linear paths: <c>layers.0</c> ... <c>layers.{depth-1}</c>.
/// </summary>
public sealed class ModuleListSubclassModel : nn.Module<Tensor, Tensor>
{
    private readonly LinearStack layers;

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="depth">Number of Linears.</param>
    public ModuleListSubclassModel(long dim, int depth) : base(nameof(ModuleListSubclassModel))
    {
        layers = new LinearStack(depth, dim);
        RegisterComponents();
    }

    /// <summary>x + tanh(layer(x)) for each layer in order.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < layers.Count; i++) x = x + layers[i].call(x).tanh();
        return x.MoveToOuterDisposeScope();
    }
}
