using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>
/// Zoo style (h): a small Llama-style causal decoder written as Microsoft.ML.GenAI writes it (RMSNorm, rotary
/// embedding, grouped-query attention, SwiGLU MLP, concrete Linear fields without bias), taking float input
/// [batch, tokens, hidden] instead of token ids and returning logits [batch, tokens, vocab].
/// Linear paths: <c>lm_head</c>, <c>model.layers.{i}.self_attn.{q,k,v,o}_proj</c>, <c>model.layers.{i}.mlp.{gate,up,down}_proj</c>
/// (named_modules lists lm_head first: TorchSharp yields a module's direct children before recursing).
/// </summary>
public sealed class LlamaStyleDecoder : nn.Module<Tensor, Tensor>
{
    private readonly LlamaModel model;
    private readonly Linear lm_head;

    /// <summary>Creates the decoder.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="intermediate">MLP width.</param>
    /// <param name="numHeads">Query heads.</param>
    /// <param name="numKvHeads">Key/value heads (fewer than <paramref name="numHeads"/> for grouped-query attention).</param>
    /// <param name="headDim">Features per head (even).</param>
    /// <param name="numLayers">Decoder layers.</param>
    /// <param name="vocab">Output features of lm_head.</param>
    /// <param name="maxPositions">Longest sequence supported.</param>
    public LlamaStyleDecoder(long hidden, long intermediate, long numHeads, long numKvHeads, long headDim, int numLayers, long vocab, long maxPositions = 64)
        : base(nameof(LlamaStyleDecoder))
    {
        model = new LlamaModel(hidden, intermediate, numHeads, numKvHeads, headDim, numLayers, maxPositions);
        lm_head = nn.Linear(hidden, vocab, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Logits for each position, each depending only on the positions up to it.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return lm_head.call(model.call(x)).MoveToOuterDisposeScope();
    }
}
