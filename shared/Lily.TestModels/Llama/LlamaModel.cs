using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>The decoder stack of <see cref="LlamaStyleDecoder"/>, without embedding: layers, then the final norm.</summary>
public sealed class LlamaModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;

    /// <summary>Creates the stack.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="intermediate">MLP width.</param>
    /// <param name="numHeads">Query heads.</param>
    /// <param name="numKvHeads">Key/value heads.</param>
    /// <param name="headDim">Features per head.</param>
    /// <param name="numLayers">Decoder layers.</param>
    /// <param name="maxPositions">Longest sequence supported.</param>
    public LlamaModel(long hidden, long intermediate, long numHeads, long numKvHeads, long headDim, int numLayers, long maxPositions) : base(nameof(LlamaModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(_ => new LlamaDecoderLayer(hidden, intermediate, numHeads, numKvHeads, headDim, maxPositions)).ToArray());
        norm = new RmsNorm(hidden);
        RegisterComponents();
    }

    /// <summary>Runs the layers in order and normalises.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x = layer.call(x);
        return norm.call(x).MoveToOuterDisposeScope();
    }
}
