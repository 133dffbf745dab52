using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Benchmarks.SiteCost;

/// <summary>
/// <see cref="SiteCostRunner.Sites"/> tiny Linear layers <c>d → d</c> run one after the other on a few
/// tokens: a model whose matrix products cost next to nothing, so a forward pass measures what every
/// adapted layer costs besides its arithmetic. The layers sit in a <c>ModuleList</c> of
/// <c>Module&lt;Tensor, Tensor&gt;</c>, so the library can attach either way; optionally LoRA written inline
/// (<see cref="Llama.InlineLora"/>) is applied to each.
/// </summary>
public sealed class TinyChain : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;
    private readonly int count;
    private Llama.InlineLora? inline_lora;

    /// <summary>A chain of <paramref name="count"/> frozen layers <c><paramref name="dim"/> → <paramref name="dimOut"/></c>, no bias (square unless there is one layer).</summary>
    public TinyChain(int count, int dim, int dimOut, Device device) : base(nameof(TinyChain))
    {
        if (count > 1 && dim != dimOut) throw new ArgumentException("A chain of more than one layer must be square.", nameof(dimOut));
        this.count = count;
        OutFeatures = dimOut;
        // Only the list holds the layers: a second reference would make the library refuse to replace them.
        layers = new ModuleList<nn.Module<Tensor, Tensor>>([.. Enumerable.Range(0, count).Select(_ => nn.Linear(dim, dimOut, hasBias: false, device: device))]);
        RegisterComponents();
        foreach (var p in parameters()) p.requires_grad = false;
    }

    /// <summary>Width of the chain's output.</summary>
    public long OutFeatures { get; }

    /// <summary>The layers' names, as <c>named_modules()</c> gives them.</summary>
    public IReadOnlyList<string> LayerNames => [.. Enumerable.Range(0, count).Select(i => $"layers.{i}")];

    /// <summary>Puts LoRA written inline on every layer (no library).</summary>
    public Llama.InlineLora AddInlineLora(int rank, double scaling, Llama.InlineLoraForm form)
    {
        inline_lora = new Llama.InlineLora([.. Enumerable.Range(0, count).Select(i => $"layer{i}")], [.. layers.Cast<Linear>()], rank, scaling, form);
        register_module(nameof(inline_lora), inline_lora);
        return inline_lora;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        long batch = x.shape[0], tokens = x.shape[1];
        for (int i = 0; i < count; i++)
            x = inline_lora is null ? layers[i].call(x) : inline_lora.Apply(i, (Linear)layers[i], x, batch, tokens);
        return x;
    }
}
