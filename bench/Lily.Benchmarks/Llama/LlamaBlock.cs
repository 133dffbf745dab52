using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// One pre-norm Llama decoder block: <c>x + o(attn(rope(q), rope(k), v))</c> with a causal mask, then
/// <c>x + down(silu(gate(x)) ⊙ up(x))</c>. No biases, as in Llama. The seven projections are Linear
/// fields named as in Hugging Face's Llama, so the adapters find them by name.
/// </summary>
public sealed class LlamaBlock : nn.Module<Tensor, Tensor>
{
    private readonly LlamaRmsNorm input_layernorm;
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly LlamaRmsNorm post_attention_layernorm;
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;
    private readonly LlamaRotary rotary;
    private readonly Tensor future;
    private InlineLora? inline_lora;

    /// <summary>A block of <see cref="LlamaSize"/>'s sizes on <paramref name="device"/>, sharing <paramref name="rotary"/> and the causal mask <paramref name="future"/>.</summary>
    public LlamaBlock(LlamaRotary rotary, Tensor future, Device device) : base(nameof(LlamaBlock))
    {
        const int h = LlamaSize.Hidden, m = LlamaSize.Intermediate;
        input_layernorm = new LlamaRmsNorm(h, device);
        q_proj = nn.Linear(h, h, hasBias: false, device: device);
        k_proj = nn.Linear(h, h, hasBias: false, device: device);
        v_proj = nn.Linear(h, h, hasBias: false, device: device);
        o_proj = nn.Linear(h, h, hasBias: false, device: device);
        post_attention_layernorm = new LlamaRmsNorm(h, device);
        gate_proj = nn.Linear(h, m, hasBias: false, device: device);
        up_proj = nn.Linear(h, m, hasBias: false, device: device);
        down_proj = nn.Linear(m, h, hasBias: false, device: device);
        this.rotary = rotary;
        this.future = future;
        RegisterComponents();
    }

    /// <summary>
    /// True: the block's forward runs in a dispose scope of its own, so its temporaries are freed when it
    /// returns (what autograd saved for backward lives on in the graph). False: they belong to the
    /// caller's scope and live until it ends.
    /// </summary>
    public bool ScopePerLayer { get; set; }

    /// <summary>The projections in the order <see cref="InlineLora"/> indexes them (<see cref="LlamaSize.TargetModules"/>'s).</summary>
    private Linear[] Projections => [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj];

    /// <summary>Puts LoRA on all seven projections written inline in this block's forward (no library; see <see cref="InlineLora"/>).</summary>
    public InlineLora AddInlineLora(int rank, double scaling, InlineLoraForm form)
    {
        inline_lora = new InlineLora(LlamaSize.TargetModules, Projections, rank, scaling, form);
        register_module(nameof(inline_lora), inline_lora);
        return inline_lora;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        if (!ScopePerLayer) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x)
    {
        long batch = x.shape[0], tokens = x.shape[1];
        const int heads = LlamaSize.Heads, headDim = LlamaSize.HeadDim;
        var normed = input_layernorm.call(x);
        var q = rotary.Apply(Project(0, q_proj, normed, batch, tokens).view(batch, tokens, heads, headDim).transpose(1, 2));
        var k = rotary.Apply(Project(1, k_proj, normed, batch, tokens).view(batch, tokens, heads, headDim).transpose(1, 2));
        var v = Project(2, v_proj, normed, batch, tokens).view(batch, tokens, heads, headDim).transpose(1, 2);
        var scores = q.matmul(k.transpose(-2, -1)).div_(Math.Sqrt(headDim));
        var weights = scores.masked_fill(future.narrow(0, 0, tokens).narrow(1, 0, tokens), double.NegativeInfinity).softmax(-1);
        var context = weights.matmul(v).transpose(1, 2).reshape(batch, tokens, LlamaSize.Hidden);
        var attended = x + Project(3, o_proj, context, batch, tokens);
        var mlpIn = post_attention_layernorm.call(attended);
        var gated = nn.functional.silu(Project(4, gate_proj, mlpIn, batch, tokens)) * Project(5, up_proj, mlpIn, batch, tokens);
        return attended + Project(6, down_proj, gated, batch, tokens);
    }

    // The projection through call() (so the library's hooks fire), or with the inline LoRA when there is one.
    private Tensor Project(int index, Linear projection, Tensor x, long batch, long tokens) =>
        inline_lora is null ? projection.call(x) : inline_lora.Apply(index, projection, x, batch, tokens);
}
