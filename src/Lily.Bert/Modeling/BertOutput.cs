using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertOutput</c>: <c>LayerNorm(dropout(dense(intermediate)) + input)</c>, the feed-forward down-projection.</summary>
public sealed class BertOutput : nn.Module<Tensor, Tensor, Tensor>
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
    public BertOutput(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.IntermediateSize, config.HiddenSize, device: device, dtype: dtype);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device, dtype: dtype);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>Projects the feed-forward activations back and adds the residual.</summary>
    /// <param name="hiddenStates">The activations, <c>[B, T, intermediate]</c>.</param>
    /// <param name="inputTensor">The attention output (the residual), <c>[B, T, H]</c>.</param>
    /// <returns><c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        return MetaSafe.Normalize(LayerNorm, dropout.call(dense.call(hiddenStates)) + inputTensor, LayerNorm.eps).MoveToOuterDisposeScope();
    }
}
