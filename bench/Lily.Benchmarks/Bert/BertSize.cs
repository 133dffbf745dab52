using Lily.Bert.Modeling;

namespace Lily.Benchmarks.Bert;

/// <summary>The BERT benchmark's model and batch shape.</summary>
/// <param name="Name">How reports name it.</param>
/// <param name="Config">The encoder's shape.</param>
/// <param name="Batch">Sequences per batch.</param>
/// <param name="Tokens">Tokens per sequence.</param>
public sealed record BertSize(string Name, BertConfig Config, int Batch, int Tokens)
{
    /// <summary>all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, FFN 1536, vocabulary 30522; batch 16 × 128 tokens.</summary>
    public static BertSize MiniLm { get; } = new("MiniLM (all-MiniLM-L6-v2 shape)",
        new BertConfig { HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 12, IntermediateSize = 1536 }, 16, 128);

    /// <summary>A 2-layer, hidden-64 BERT on 4 × 16 tokens: the smoke run's shape, seconds in all.</summary>
    public static BertSize Tiny { get; } = new("tiny (2 layers, hidden 64)",
        new BertConfig { HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 256 }, 4, 16);

    /// <summary>The size a probe target names: <c>minilm</c> or <c>tiny</c>.</summary>
    public static BertSize Parse(string name) => name switch
    {
        "minilm" => MiniLm,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"Unknown BERT size '{name}'; known: minilm, tiny.", nameof(name)),
    };

    /// <summary>The name <see cref="Parse"/> takes.</summary>
    public string Key => ReferenceEquals(this, Tiny) ? "tiny" : "minilm";
}
