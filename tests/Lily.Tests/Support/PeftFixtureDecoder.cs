using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>The fixture model's <c>model</c>: a ModuleList <c>layers</c> of <see cref="PeftFixtureBlock"/> applied in order.</summary>
public sealed class PeftFixtureDecoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<PeftFixtureBlock> layers;

    /// <summary>Creates the decoder.</summary>
    /// <param name="depth">Number of blocks.</param>
    public PeftFixtureDecoder(int depth) : base(nameof(PeftFixtureDecoder))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new PeftFixtureBlock()).ToArray());
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
