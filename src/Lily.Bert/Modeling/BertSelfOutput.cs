using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertSelfOutput</c>: <c>LayerNorm(dropout(dense(context)) + input)</c>.</summary>
public sealed class BertSelfOutput : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
#pragma warning restore IDE1006

    /// <summary>Creates the projection of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertSelfOutput(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertSelfOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device, dtype: dtype);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>Projects the attention context and adds the residual.</summary>
    /// <param name="hiddenStates">The attention context, <c>[B, T, H]</c>.</param>
    /// <param name="inputTensor">The layer's input (the residual), <c>[B, T, H]</c>.</param>
    /// <returns><c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        return MetaSafe.Normalize(LayerNorm, dropout.call(dense.call(hiddenStates)) + inputTensor, LayerNorm.eps).MoveToOuterDisposeScope();
    }
}
