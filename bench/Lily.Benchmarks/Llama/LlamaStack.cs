using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// A stack of <see cref="LlamaBlock"/>s (no embedding, no head): the model of the adapter-overhead
/// benchmark. Blocks are <c>layers.0</c>, <c>layers.1</c>, ... as in Hugging Face's Llama.
/// </summary>
public sealed class LlamaStack : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LlamaBlock> layers;
    private readonly LlamaRotary rotary;
    private readonly Tensor future;

    /// <summary>A stack of <paramref name="depth"/> blocks on <paramref name="device"/>, every parameter frozen.</summary>
    public LlamaStack(int depth, Device device) : base(nameof(LlamaStack))
    {
        rotary = new LlamaRotary(LlamaSize.HeadDim, LlamaSize.Tokens, device);
        future = ones(LlamaSize.Tokens, LlamaSize.Tokens, dtype: ScalarType.Bool).triu(1).to(device).DetachFromDisposeScope();
        layers = new ModuleList<LlamaBlock>(Enumerable.Range(0, depth).Select(_ => new LlamaBlock(rotary, future, device)).ToArray());
        RegisterComponents();
        foreach (var p in parameters()) p.requires_grad = false;
    }

    /// <summary>The blocks, first to last.</summary>
    public IEnumerable<LlamaBlock> Blocks => layers;

    /// <summary>Sets <see cref="LlamaBlock.ScopePerLayer"/> on every block.</summary>
    public bool ScopePerLayer
    {
        set
        {
            foreach (var block in layers) block.ScopePerLayer = value;
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        foreach (var block in layers) x = block.call(x);
        return x;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            rotary.Dispose();
            future.Dispose();
        }
        base.Dispose(disposing);
    }
}
