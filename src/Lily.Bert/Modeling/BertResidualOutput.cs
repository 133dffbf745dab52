using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// <c>LayerNorm(dropout(dense(x)) + residual)</c>: what closes both halves of a BERT layer. Hugging Face writes it
/// twice, as <c>BertSelfOutput</c> (after attention, <c>dense</c> H → H) and <c>BertOutput</c> (after the
/// feed-forward, <c>dense</c> intermediate → H); the parameter names (<c>dense</c>, <c>LayerNorm</c>) are the same.
/// </summary>
public sealed class BertResidualOutput : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
#pragma warning restore IDE1006

    /// <summary>Creates the projection from <paramref name="inFeatures"/> to the hidden width of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="inFeatures">Width of the input: the hidden size after attention, the intermediate size after the feed-forward.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertResidualOutput(BertConfig config, int inFeatures, Device? device = null, ScalarType? dtype = null) : base(nameof(BertResidualOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(inFeatures, config.HiddenSize, device: device, dtype: dtype);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device, dtype: dtype);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>Projects <paramref name="hiddenStates"/> and adds the residual.</summary>
    /// <param name="hiddenStates">The attention context or the feed-forward activations, <c>[B, T, inFeatures]</c>.</param>
    /// <param name="inputTensor">The residual, <c>[B, T, H]</c>.</param>
    /// <returns><c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        return MetaSafe.Normalize(LayerNorm, dropout.call(dense.call(hiddenStates)) + inputTensor, LayerNorm.eps).MoveToOuterDisposeScope();
    }
}
