using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

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
    /// <param name="device">Where the weights live (null: the CPU).</param>
    public LlamaDecoderLayer(long hidden, long intermediate, long numHeads, long numKvHeads, long headDim, long maxPositions, Device? device = null)
        : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(hidden, device: device);
        self_attn = new LlamaAttention(hidden, numHeads, numKvHeads, headDim, maxPositions, device);
        post_attention_layernorm = new RmsNorm(hidden, device: device);
        mlp = new LlamaMlp(hidden, intermediate, device);
        RegisterComponents();
    }

    /// <inheritdoc cref="RmsNorm.Scoped"/>
    public bool Scoped { get; set; } = true;

    /// <summary>
    /// True (default): the norms, the attention and the MLP each free their temporaries when they return.
    /// False: only <see cref="Scoped"/> decides, for the whole layer (the benchmarks' per-layer and per-step scopes).
    /// </summary>
    public bool PartsScoped
    {
        get => self_attn.Scoped;
        set => input_layernorm.Scoped = self_attn.Scoped = post_attention_layernorm.Scoped = mlp.Scoped = value;
    }

    /// <summary>How the seven projections are applied (null: each Linear is called).</summary>
    public LlamaProjection? Projection
    {
        get => mlp.Projection;
        set => self_attn.Projection = mlp.Projection = value;
    }

    /// <summary>Attention then MLP, each residual.</summary>
    public override Tensor forward(Tensor x)
    {
        if (!Scoped) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x)
    {
        var h = x + self_attn.call(input_layernorm.call(x));
        return h + mlp.call(post_attention_layernorm.call(h));
    }
}
