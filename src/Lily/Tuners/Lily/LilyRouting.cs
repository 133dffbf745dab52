namespace Lily.Tuners;

/// <summary>How a Lily layer turns its router's logits into the weights that mix the B experts.</summary>
public enum LilyRouting
{
    /// <summary>
    /// Softmax per token, then the mean over every token of the batch: one mixture for the
    /// whole batch. This is what Hugging Face PEFT and the authors' code compute (the default).
    /// </summary>
    BatchMean,

    /// <summary>
    /// The paper's formula: softmax of the logits summed over a sample's tokens, one mixture per
    /// sample (the first dimension of the input is the sample).
    /// </summary>
    PerSample,

    /// <summary>Softmax per token and one mixture per token: the finest and the most expensive.</summary>
    PerToken,
}
