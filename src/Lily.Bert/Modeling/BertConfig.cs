using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lily.Bert.Modeling;

/// <summary>
/// The shape of a BERT-family encoder, read from and written to Hugging Face's <c>config.json</c>
/// (the fields of <c>transformers.BertConfig</c>, with its defaults).
/// </summary>
/// <remarks>
/// Only what changes the computation is modelled. Fields that name a feature this encoder does not have
/// (a position embedding other than <c>absolute</c>, an activation other than GELU, tanh-GELU or ReLU) are
/// refused when the file is read rather than ignored, so a checkpoint is never run with the wrong arithmetic.
/// </remarks>
public sealed record BertConfig
{
    /// <summary>Rows of <c>embeddings.word_embeddings</c> (<c>vocab_size</c>).</summary>
    public int VocabSize { get; init; } = 30522;

    /// <summary>Width of every hidden state (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; init; } = 768;

    /// <summary>Number of transformer layers (<c>num_hidden_layers</c>).</summary>
    public int NumHiddenLayers { get; init; } = 12;

    /// <summary>Attention heads per layer (<c>num_attention_heads</c>); must divide <see cref="HiddenSize"/>.</summary>
    public int NumAttentionHeads { get; init; } = 12;

    /// <summary>Width of the feed-forward layer (<c>intermediate_size</c>).</summary>
    public int IntermediateSize { get; init; } = 3072;

    /// <summary>The feed-forward activation (<c>hidden_act</c>): <c>gelu</c> (exact, erf), <c>gelu_new</c> /
    /// <c>gelu_pytorch_tanh</c> (tanh approximation) or <c>relu</c>.</summary>
    public string HiddenAct { get; init; } = "gelu";

    /// <summary>Dropout after embeddings, attention output and feed-forward output (<c>hidden_dropout_prob</c>).</summary>
    public double HiddenDropoutProb { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities (<c>attention_probs_dropout_prob</c>).</summary>
    public double AttentionProbsDropoutProb { get; init; } = 0.1;

    /// <summary>Rows of <c>embeddings.position_embeddings</c>: the longest input (<c>max_position_embeddings</c>).</summary>
    public int MaxPositionEmbeddings { get; init; } = 512;

    /// <summary>Rows of <c>embeddings.token_type_embeddings</c> (<c>type_vocab_size</c>).</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary>Epsilon of every LayerNorm (<c>layer_norm_eps</c>).</summary>
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>Standard deviation of the normal initialisation of fresh weights (<c>initializer_range</c>).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>Id of the padding token (<c>pad_token_id</c>).</summary>
    public int PadTokenId { get; init; }

    /// <summary>How self-attention is computed (not a <c>config.json</c> field: Hugging Face takes it as
    /// <c>attn_implementation</c> when loading). <see cref="AttentionImplementation.Sdpa"/> by default.</summary>
    public AttentionImplementation AttentionImplementation { get; init; } = AttentionImplementation.Sdpa;

    /// <summary>Hugging Face's <c>model_type</c>; <c>bert</c> for every checkpoint this encoder reads.</summary>
    public string ModelType { get; init; } = "bert";

    /// <summary>Width of one attention head.</summary>
    public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>The activations <see cref="HiddenAct"/> may name.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"];

    /// <summary>Checks that the numbers describe a model that can be built.</summary>
    /// <param name="source">Where the config came from, for the message.</param>
    /// <exception cref="InvalidDataException">A field is out of range; the message names it and its value.</exception>
    public void Validate(string source = "BertConfig")
    {
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}.");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new InvalidDataException($"{source}: hidden_act '{HiddenAct}' is not supported (supported: {string.Join(", ", SupportedActivations)}).");
        Probability(HiddenDropoutProb, "hidden_dropout_prob");
        Probability(AttentionProbsDropoutProb, "attention_probs_dropout_prob");
        if (!(InitializerRange >= 0) || double.IsInfinity(InitializerRange))
            throw new InvalidDataException($"{source}: initializer_range must be a non-negative number, not {InitializerRange}.");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
            throw new InvalidDataException($"{source}: layer_norm_eps must be a positive number, not {LayerNormEps}.");
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new InvalidDataException($"{source}: pad_token_id {PadTokenId} is outside the vocabulary (0..{VocabSize - 1}).");

        void Positive(int value, string name)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {name} must be positive, not {value}.");
        }

        void Probability(double value, string name)
        {
            if (!(value >= 0 && value < 1)) throw new InvalidDataException($"{source}: {name} must be in [0, 1), not {value}.");
        }
    }

    /// <summary>Reads a Hugging Face <c>config.json</c>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The validated config; fields the file omits take <c>transformers.BertConfig</c>'s defaults.</returns>
    /// <exception cref="InvalidDataException">The file is not a JSON object, a field has the wrong type or value,
    /// or it asks for a feature this encoder does not have. The message names the file and the field.</exception>
    public static BertConfig Load(string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }

        if (root is not JsonObject json) throw new InvalidDataException($"{path}: the config must be a JSON object.");
        var defaults = new BertConfig();
        var config = new BertConfig
        {
            VocabSize = Int(json, "vocab_size", defaults.VocabSize, path),
            HiddenSize = Int(json, "hidden_size", defaults.HiddenSize, path),
            NumHiddenLayers = Int(json, "num_hidden_layers", defaults.NumHiddenLayers, path),
            NumAttentionHeads = Int(json, "num_attention_heads", defaults.NumAttentionHeads, path),
            IntermediateSize = Int(json, "intermediate_size", defaults.IntermediateSize, path),
            HiddenAct = Str(json, "hidden_act", defaults.HiddenAct, path),
            HiddenDropoutProb = Num(json, "hidden_dropout_prob", defaults.HiddenDropoutProb, path),
            AttentionProbsDropoutProb = Num(json, "attention_probs_dropout_prob", defaults.AttentionProbsDropoutProb, path),
            MaxPositionEmbeddings = Int(json, "max_position_embeddings", defaults.MaxPositionEmbeddings, path),
            TypeVocabSize = Int(json, "type_vocab_size", defaults.TypeVocabSize, path),
            LayerNormEps = Num(json, "layer_norm_eps", defaults.LayerNormEps, path),
            InitializerRange = Num(json, "initializer_range", defaults.InitializerRange, path),
            PadTokenId = Int(json, "pad_token_id", defaults.PadTokenId, path),
            ModelType = Str(json, "model_type", defaults.ModelType, path),
        };

        var positions = Str(json, "position_embedding_type", "absolute", path);
        if (positions != "absolute")
            throw new InvalidDataException($"{path}: position_embedding_type '{positions}' is not supported (only 'absolute').");
        if (config.ModelType != "bert")
            throw new InvalidDataException($"{path}: model_type '{config.ModelType}' is not a BERT checkpoint (expected 'bert').");
        config.Validate(path);
        return config;
    }

    /// <summary>Writes the config as Hugging Face's <c>config.json</c> (keys in a fixed order, so equal configs give equal bytes).</summary>
    /// <param name="path">The file to create or replace.</param>
    public void Save(string path)
    {
        Validate();
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("BertModel"),
            ["attention_probs_dropout_prob"] = AttentionProbsDropoutProb,
            ["hidden_act"] = HiddenAct,
            ["hidden_dropout_prob"] = HiddenDropoutProb,
            ["hidden_size"] = HiddenSize,
            ["initializer_range"] = InitializerRange,
            ["intermediate_size"] = IntermediateSize,
            ["layer_norm_eps"] = LayerNormEps,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["model_type"] = ModelType,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["pad_token_id"] = PadTokenId,
            ["position_embedding_type"] = "absolute",
            ["type_vocab_size"] = TypeVocabSize,
            ["vocab_size"] = VocabSize,
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static int Int(JsonObject json, string key, int fallback, string path)
    {
        if (!json.TryGetPropertyValue(key, out var node) || node is null) return fallback;
        if (node is JsonValue v && v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i)) return i;
        throw new InvalidDataException($"{path}: {key} must be an integer, not {node.ToJsonString()}.");
    }

    private static double Num(JsonObject json, string key, double fallback, string path)
    {
        if (!json.TryGetPropertyValue(key, out var node) || node is null) return fallback;
        if (node is JsonValue v && v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number) return e.GetDouble();
        throw new InvalidDataException($"{path}: {key} must be a number, not {node.ToJsonString()}.");
    }

    private static string Str(JsonObject json, string key, string fallback, string path)
    {
        if (!json.TryGetPropertyValue(key, out var node) || node is null) return fallback;
        if (node is JsonValue v && v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.String) return e.GetString()!;
        throw new InvalidDataException($"{path}: {key} must be a string, not {node.ToJsonString()}.");
    }
}
