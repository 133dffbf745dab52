namespace Lily.Bert.Modeling;

/// <summary>How self-attention is computed (Hugging Face's <c>attn_implementation</c>); both give the same values.</summary>
public enum AttentionImplementation
{
    /// <summary>libtorch's fused <c>scaled_dot_product_attention</c> (Hugging Face's default): no scores tensor is kept for backward.</summary>
    Sdpa,

    /// <summary>Scores, softmax and dropout written out, as Hugging Face's eager path.</summary>
    Eager,
}
