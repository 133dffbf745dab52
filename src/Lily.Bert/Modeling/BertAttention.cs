using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertAttention</c>: self-attention (<c>self</c>) then its projection and residual (<c>output</c>).</summary>
public sealed class BertAttention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly BertSelfAttention self;
    private readonly BertResidualOutput output;
#pragma warning restore IDE1006

    /// <summary>Creates the attention block of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertAttention(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(config, device, dtype);
        output = new BertResidualOutput(config, config.HiddenSize, device, dtype);
        RegisterComponents();
    }

    /// <summary>The self-attention (<c>self</c>).</summary>
    public BertSelfAttention Self => self;

    /// <summary>The projection and residual after it (<c>output</c>).</summary>
    public BertResidualOutput Output => output;

    /// <summary>Attends and adds the residual.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <param name="additiveMask"><c>[B, 1, 1, T]</c>, see <see cref="BertModel.ExtendedAttentionMask"/>.</param>
    /// <returns><c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        return output.call(self.call(hiddenStates, additiveMask), hiddenStates).MoveToOuterDisposeScope();
    }
}
