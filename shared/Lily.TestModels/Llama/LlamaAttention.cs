using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>
/// Llama's causal self-attention with grouped-query attention: num_kv_heads key/value heads are shared by
/// num_heads / num_kv_heads query heads each; rotary embedding on q and k; no biases; concrete Linear fields.
/// </summary>
public sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly RotaryEmbedding rotary_emb;
    private readonly long numHeads;
    private readonly long numKvHeads;
    private readonly long headDim;

    /// <summary>Creates the attention.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="numHeads">Query heads.</param>
    /// <param name="numKvHeads">Key/value heads; divides <paramref name="numHeads"/>.</param>
    /// <param name="headDim">Features per head (even).</param>
    /// <param name="maxPositions">Longest sequence supported.</param>
    /// <param name="device">Where the weights and rotary tables live (null: the CPU).</param>
    public LlamaAttention(long hidden, long numHeads, long numKvHeads, long headDim, long maxPositions, Device? device = null) : base(nameof(LlamaAttention))
    {
        if (numHeads % numKvHeads != 0) throw new ArgumentException("num_heads must be a multiple of num_kv_heads.", nameof(numKvHeads));
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        q_proj = nn.Linear(hidden, numHeads * headDim, hasBias: false, device: device);
        k_proj = nn.Linear(hidden, numKvHeads * headDim, hasBias: false, device: device);
        v_proj = nn.Linear(hidden, numKvHeads * headDim, hasBias: false, device: device);
        o_proj = nn.Linear(numHeads * headDim, hidden, hasBias: false, device: device);
        rotary_emb = new RotaryEmbedding(headDim, maxPositions, device: device);
        RegisterComponents();
    }

    /// <inheritdoc cref="RmsNorm.Scoped"/>
    public bool Scoped
    {
        get => scoped;
        set => scoped = rotary_emb.Scoped = value;
    }

    private bool scoped = true;

    /// <summary>How the projections are applied (null: each Linear is called).</summary>
    public LlamaProjection? Projection { get; set; }

    /// <summary>Attends each token to itself and the tokens before it.</summary>
    public override Tensor forward(Tensor x)
    {
        if (!Scoped) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x)
    {
        long batch = x.shape[0], tokens = x.shape[1];
        var q = Project(nameof(q_proj), q_proj, x).view(batch, tokens, numHeads, headDim).transpose(1, 2);
        var k = Project(nameof(k_proj), k_proj, x).view(batch, tokens, numKvHeads, headDim).transpose(1, 2);
        var v = Project(nameof(v_proj), v_proj, x).view(batch, tokens, numKvHeads, headDim).transpose(1, 2);
        q = rotary_emb.call(q);
        k = rotary_emb.call(k);

        // repeat_kv: query head h reads key/value head h / (numHeads / numKvHeads), as in HF (nothing to repeat
        // when every query head has its own).
        long groups = numHeads / numKvHeads;
        if (groups > 1)
        {
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }

        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(headDim);
        var future = ones(tokens, tokens, dtype: ScalarType.Bool, device: x.device).triu(1);
        var weights = scores.masked_fill(future, double.NegativeInfinity).softmax(-1);
        var context = weights.matmul(v).transpose(1, 2).reshape(batch, tokens, numHeads * headDim);
        return Project(nameof(o_proj), o_proj, context);
    }

    private Tensor Project(string name, Linear projection, Tensor x) => Projection is null ? projection.call(x) : Projection(name, projection, x);
}
