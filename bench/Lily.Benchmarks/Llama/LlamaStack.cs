using Lily.TestModels.Llama;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// A stack of the shared Llama-style decoder layers (<see cref="LlamaDecoderLayer"/>, the implementation the tests'
/// zoo pins) at <see cref="LlamaSize"/>'s sizes, without embedding, final norm or head: the model of the
/// adapter-overhead benchmark. Blocks are <c>layers.0</c>, <c>layers.1</c>, ... as in Hugging Face's Llama; their
/// projections <c>layers.{i}.self_attn.{q,k,v,o}_proj</c> and <c>layers.{i}.mlp.{gate,up,down}_proj</c>.
/// </summary>
public sealed class LlamaStack : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LlamaDecoderLayer> layers;

    /// <summary>A stack of <paramref name="depth"/> blocks on <paramref name="device"/>, every parameter frozen.</summary>
    public LlamaStack(int depth, Device device) : base(nameof(LlamaStack))
    {
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, depth)
            .Select(_ => new LlamaDecoderLayer(LlamaSize.Hidden, LlamaSize.Intermediate, LlamaSize.Heads, LlamaSize.Heads, LlamaSize.HeadDim, LlamaSize.Tokens, device)
            {
                // The benchmark decides where temporaries are freed: at the end of the step, or per block.
                Scoped = false,
                PartsScoped = false,
            }).ToArray());
        RegisterComponents();
        foreach (var p in parameters()) p.requires_grad = false;
    }

    /// <summary>The blocks, first to last.</summary>
    public IEnumerable<LlamaDecoderLayer> Blocks => layers;

    /// <summary>
    /// True: every block's forward runs in a dispose scope of its own, so its temporaries are freed when it
    /// returns (what autograd saved for backward lives on in the graph). False: they belong to the
    /// caller's scope and live until it ends.
    /// </summary>
    public bool ScopePerLayer
    {
        set
        {
            foreach (var block in layers) block.Scoped = value;
        }
    }

    /// <summary>
    /// Puts LoRA on all seven projections of every block, written inline in the blocks' forward (no library; see
    /// <see cref="InlineLora"/>): block i gets the submodule <c>layers.{i}.inline_lora</c>.
    /// </summary>
    public IReadOnlyList<InlineLora> AddInlineLora(int rank, double scaling, InlineLoraForm form)
    {
        var added = new List<InlineLora>();
        foreach (var block in layers)
        {
            var byName = block.named_modules().Where(m => m.module is Linear).ToDictionary(m => m.name.Split('.')[^1], m => (Linear)m.module);
            var names = LlamaSize.TargetModules;
            var inline = new InlineLora(names, [.. names.Select(n => byName[n])], rank, scaling, form);
            block.register_module("inline_lora", inline);
            var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i);
            block.Projection = (name, projection, x) => inline.Apply(index[name], projection, x, x.shape[0], x.shape[1]);
            added.Add(inline);
        }
        return added;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        foreach (var block in layers) x = block.call(x);
        return x;
    }
}
