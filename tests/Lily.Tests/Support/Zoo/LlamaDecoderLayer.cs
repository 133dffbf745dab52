using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>Pre-norm decoder layer: h = x + self_attn(input_layernorm(x)); h + mlp(post_attention_layernorm(h)).</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly LlamaMlp mlp;

    /// <summary>Creates the layer.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="intermediate">MLP width.</param>
    /// <param name="numHeads">Query heads.</param>
    /// <param name="numKvHeads">Key/value heads.</param>
    /// <param name="headDim">Features per head.</param>
    /// <param name="maxPositions">Longest sequence supported.</param>
    public LlamaDecoderLayer(long hidden, long intermediate, long numHeads, long numKvHeads, long headDim, long maxPositions) : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(hidden);
        self_attn = new LlamaAttention(hidden, numHeads, numKvHeads, headDim, maxPositions);
        post_attention_layernorm = new RmsNorm(hidden);
        mlp = new LlamaMlp(hidden, intermediate);
        RegisterComponents();
    }

    /// <summary>Attention then MLP, each residual.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.call(input_layernorm.call(x));
        return (h + mlp.call(post_attention_layernorm.call(h))).MoveToOuterDisposeScope();
    }
}
