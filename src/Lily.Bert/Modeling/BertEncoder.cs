using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertEncoder</c>: the stack of layers, <c>layer.0</c> … <c>layer.{L-1}</c>.</summary>
public sealed class BertEncoder : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly ModuleList<BertLayer> layer;
#pragma warning restore IDE1006

    /// <summary>Creates the <see cref="BertConfig.NumHiddenLayers"/> layers of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertEncoder(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertEncoder))
    {
        ArgumentNullException.ThrowIfNull(config);
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>The layers, in order (a copy of the list; the layers themselves are the live modules).</summary>
    public IReadOnlyList<BertLayer> Layers => [.. layer];

    /// <summary>Runs every layer in turn.</summary>
    /// <param name="hiddenStates">The embeddings, <c>[B, T, H]</c>.</param>
    /// <param name="additiveMask"><c>[B, 1, 1, T]</c>, see <see cref="BertModel.ExtendedAttentionMask"/>.</param>
    /// <returns>The last hidden state, <c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor additiveMask)
    {
        // Intermediate states are not disposed here: a forward hook may keep them (all hidden states);
        // the caller's dispose scope (BertModel.forward) frees them.
        var x = hiddenStates;
        foreach (var block in layer) x = block.call(x, additiveMask);
        return ReferenceEquals(x, hiddenStates) ? hiddenStates.alias() : x;
    }
}
