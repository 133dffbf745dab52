namespace Lily.Bert.Modeling;

/// <summary>How a sequence of hidden states becomes one vector per sequence.</summary>
public enum Pooling
{
    /// <summary>The mean over real tokens (attention mask 1), as sentence-transformers models are trained.</summary>
    Mean,

    /// <summary>The first token's (<c>[CLS]</c>) hidden state, unprojected.</summary>
    Cls,

    /// <summary>Hugging Face's pooler output: <c>tanh(dense(h[:, 0]))</c>; needs a model with a pooler.</summary>
    Pooler,
}
