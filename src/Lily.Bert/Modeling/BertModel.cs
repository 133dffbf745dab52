using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// Hugging Face's <c>BertModel</c>: embeddings, the encoder stack and an optional pooler, with the same parameter
/// names (<c>embeddings.word_embeddings.weight</c>, <c>encoder.layer.0.attention.self.query.weight</c>, <c>pooler.dense.weight</c>, …),
/// so its state dict is a Hugging Face checkpoint.
/// </summary>
/// <remarks>The common call is <c>model.call(inputIds, attentionMask)</c>, returning the last hidden state <c>[B, T, H]</c>;
/// <see cref="forward(Tensor, Tensor?, Tensor?)"/> also takes token type ids and <see cref="Pool"/> gives a vector per sequence.
/// Computes in the dtype of its parameters (float32 or float64) on any device, including <c>meta</c>.</remarks>
public sealed class BertModel : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly BertPooler? pooler;
#pragma warning restore IDE1006

    /// <summary>Creates a freshly initialised encoder (weights normal(0, <c>initializer_range</c>), biases 0, LayerNorms 1 / 0, as <c>transformers</c> does).</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="addPoolingLayer">Whether to include <c>pooler</c> (Hugging Face's <c>add_pooling_layer</c>).</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertModel(BertConfig config, bool addPoolingLayer = true, Device? device = null, ScalarType? dtype = null) : base(nameof(BertModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        embeddings = new BertEmbeddings(config, device, dtype);
        encoder = new BertEncoder(config, device, dtype);
        pooler = addPoolingLayer ? new BertPooler(config, device, dtype) : null;
        RegisterComponents();
        InitWeights(this, config);
    }

    /// <summary>The encoder's shape.</summary>
    public BertConfig Config { get; }

    /// <summary>Whether the model has a pooler (and so supports <see cref="Pooling.Pooler"/>).</summary>
    public bool HasPooler => pooler is not null;

    /// <summary>The embeddings.</summary>
    public BertEmbeddings Embeddings => embeddings;

    /// <summary>The layer stack.</summary>
    public BertEncoder Encoder => encoder;

    /// <summary>The pooler, or <see langword="null"/>.</summary>
    public BertPooler? Pooler => pooler;

    /// <summary>Encodes a batch with all token types 0.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding (int64, float or bool).</param>
    /// <returns>The last hidden state, <c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask) => forward(inputIds, attentionMask, null);

    /// <summary>Encodes a batch.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding (int64, float or bool); <see langword="null"/> for all tokens.</param>
    /// <param name="tokenTypeIds"><c>[B, T]</c> int64 segment ids; <see langword="null"/> for all zeros.</param>
    /// <returns>The last hidden state, <c>[B, T, H]</c>.</returns>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attention_mask [{string.Join(", ", attentionMask.shape)}] must have the shape of input_ids [{string.Join(", ", inputIds.shape)}].", nameof(attentionMask));
        using var scope = NewDisposeScope();
        var hidden = embeddings.call(inputIds, tokenTypeIds);
        var mask = ExtendedAttentionMask(attentionMask ?? ones_like(inputIds), hidden.dtype);
        return encoder.call(hidden, mask).MoveToOuterDisposeScope();
    }

    /// <summary>Pools a last hidden state into one vector per sequence.</summary>
    /// <param name="lastHiddenState"><c>[B, T, H]</c> from <see cref="forward(Tensor, Tensor?, Tensor?)"/>.</param>
    /// <param name="attentionMask">The mask the state was computed with (used by <see cref="Pooling.Mean"/>).</param>
    /// <param name="pooling">The strategy.</param>
    /// <returns><c>[B, H]</c>.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Pooling.Pooler"/> on a model without a pooler.</exception>
    public Tensor Pool(Tensor lastHiddenState, Tensor? attentionMask, Pooling pooling) => pooling switch
    {
        Pooling.Mean => BertPooling.Mean(lastHiddenState, attentionMask),
        Pooling.Cls => BertPooling.Cls(lastHiddenState),
        Pooling.Pooler => pooler?.call(lastHiddenState) ?? throw new InvalidOperationException("This BertModel has no pooler (created with addPoolingLayer: false)."),
        _ => throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Unknown pooling."),
    };

    /// <summary>Encodes and pools in one call.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding; <see langword="null"/> for all tokens.</param>
    /// <param name="pooling">The strategy.</param>
    /// <param name="tokenTypeIds"><c>[B, T]</c> int64 segment ids; <see langword="null"/> for all zeros.</param>
    /// <returns><c>[B, H]</c>.</returns>
    public Tensor Encode(Tensor inputIds, Tensor? attentionMask, Pooling pooling, Tensor? tokenTypeIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = forward(inputIds, attentionMask, tokenTypeIds);
        return Pool(hidden, attentionMask, pooling).MoveToOuterDisposeScope();
    }

    /// <summary>Turns a <c>[B, T]</c> padding mask into the additive <c>[B, 1, 1, T]</c> mask of Hugging Face's eager attention:
    /// <c>(1 - mask) · finfo(dtype).min</c>.</summary>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding (int64, float or bool).</param>
    /// <param name="dtype">The dtype of the attention scores.</param>
    /// <returns>A new tensor: 0 where attended, the dtype's most negative value where masked.</returns>
    public static Tensor ExtendedAttentionMask(Tensor attentionMask, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(attentionMask);
        if (attentionMask.dim() != 2)
            throw new ArgumentException($"attention_mask must be [B, T], not [{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
        using var scope = NewDisposeScope();
        var mask = attentionMask.to(dtype).unsqueeze(1).unsqueeze(1);
        return ((1.0 - mask) * finfo(dtype).min).MoveToOuterDisposeScope();
    }

    /// <summary>Loads a Hugging Face checkpoint folder: <c>config.json</c> and <c>model.safetensors</c>, strictly
    /// (see <see cref="BertCheckpoint.Load(nn.Module, IReadOnlyDictionary{string, Tensor}, string, IEnumerable{string}?, IEnumerable{string}?)"/>).</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="addPoolingLayer">Whether the model has a pooler; when null, whether the file has <c>pooler.dense.weight</c>.</param>
    /// <param name="ignorePrefixes">File tensors under these prefixes (e.g. <c>cls.</c>, a pretraining head) are skipped; none by default.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null); stored tensors are converted to it.</param>
    /// <returns>The loaded model, in training mode as <c>nn.Module</c>s start; call <c>eval()</c> for inference.</returns>
    /// <exception cref="InvalidDataException">The config or the weights do not match; the message names the file, every wrong tensor and both shapes.</exception>
    public static BertModel FromPretrained(string directory, bool? addPoolingLayer = null, IEnumerable<string>? ignorePrefixes = null, Device? device = null, ScalarType? dtype = null)
    {
        return BertCheckpoint.Build(directory,
            (config, tensors) => new BertModel(config, addPoolingLayer ?? BertCheckpoint.HasPooler(tensors), device, dtype),
            (model, tensors, path) => BertCheckpoint.Load(model, tensors, path, ignorePrefixes));
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> (Hugging Face names) into <paramref name="directory"/>,
    /// readable by <see cref="FromPretrained"/> and by <c>transformers.BertModel.from_pretrained</c>.</summary>
    /// <param name="directory">The folder; created if missing.</param>
    public void SavePretrained(string directory) => BertCheckpoint.Save(this, Config, directory);

    internal static void InitWeights(nn.Module module, BertConfig config)
    {
        // transformers' BertPreTrainedModel._init_weights; TorchSharp's defaults (Kaiming, N(0, 1)) differ.
        using var guard = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight!, 0, config.InitializerRange);
                    if (linear.bias is not null) nn.init.zeros_(linear.bias);
                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight!, 0, config.InitializerRange);
                    break;
                case LayerNorm norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
            }
        }

        // The pad row starts at zero, as with padding_idx in transformers.
        if (module is BertModel bert)
        {
            using var padRow = bert.embeddings.WordEmbeddings.weight![bert.Config.PadTokenId];
            padRow.zero_();
        }
    }
}
