using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertLayer</c>: attention, then the feed-forward block (<c>intermediate</c>, <c>output</c>).</summary>
public sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertResidualOutput output;
#pragma warning restore IDE1006

    /// <summary>Creates one transformer layer of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertLayer(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config, device, dtype);
        intermediate = new BertIntermediate(config, device, dtype);
        output = new BertResidualOutput(config, config.IntermediateSize, device, dtype);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public BertAttention Attention => attention;

    /// <summary>The feed-forward up-projection.</summary>
    public BertIntermediate Intermediate => intermediate;

    /// <summary>The feed-forward down-projection and residual.</summary>
    public BertResidualOutput Output => output;

    /// <summary>Runs the layer.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <param name="additiveMask"><c>[B, 1, 1, T]</c>, see <see cref="BertModel.ExtendedAttentionMask"/>.</param>
    /// <returns><c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor additiveMask)
    {
        // Scoped per layer: the attention scores and feed-forward activations of this layer are freed
        // before the next layer runs, so peak memory is one layer's temporaries, not the whole stack's.
        using var scope = NewDisposeScope();
        var attended = attention.call(hiddenStates, additiveMask);
        return output.call(intermediate.call(attended), attended).MoveToOuterDisposeScope();
    }
}
