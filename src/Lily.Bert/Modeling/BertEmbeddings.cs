using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// Hugging Face's <c>BertEmbeddings</c>: word + absolute position + token type embeddings, then LayerNorm and dropout.
/// </summary>
/// <remarks>Positions are <c>0..T-1</c> for every sequence and absent token types are zeros, as in <c>transformers</c>.
/// Hugging Face's <c>position_ids</c> / <c>token_type_ids</c> buffers are not kept: they are recomputed on the input's
/// device, so the state dict holds only parameters.</remarks>
public sealed class BertEmbeddings : nn.Module<Tensor, Tensor?, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding token_type_embeddings;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
#pragma warning restore IDE1006

    /// <summary>Creates the embeddings of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertEmbeddings(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertEmbeddings))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        MaxPositions = config.MaxPositionEmbeddings;
        TypeVocabSize = config.TypeVocabSize;
        // padding_idx as in transformers: the pad row gets no gradient.
        word_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId, device: device, dtype: dtype);
        position_embeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize, device: device, dtype: dtype);
        token_type_embeddings = nn.Embedding(config.TypeVocabSize, config.HiddenSize, device: device, dtype: dtype);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device, dtype: dtype);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>The longest sequence the position table covers.</summary>
    public int MaxPositions { get; }

    /// <summary>Rows of the token type table.</summary>
    public int TypeVocabSize { get; }

    /// <summary>The word embedding table, <c>[vocab, hidden]</c>.</summary>
    public Embedding WordEmbeddings => word_embeddings;

    /// <summary>Embeds a batch of token ids.</summary>
    /// <param name="inputIds"><c>[B, T]</c> int64 token ids.</param>
    /// <param name="tokenTypeIds"><c>[B, T]</c> int64 segment ids, or <see langword="null"/> for all zeros.</param>
    /// <returns><c>[B, T, H]</c> in the parameters' dtype.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? tokenTypeIds)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (inputIds.dim() != 2) throw new ArgumentException($"input_ids must be [B, T], not [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        var length = inputIds.shape[1];
        if (length > MaxPositions)
            throw new ArgumentException($"The sequence has {length} tokens; the position table holds {MaxPositions}.", nameof(inputIds));
        if (tokenTypeIds is not null && !tokenTypeIds.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"token_type_ids [{string.Join(", ", tokenTypeIds.shape)}] must have the shape of input_ids [{string.Join(", ", inputIds.shape)}].", nameof(tokenTypeIds));

        using var scope = NewDisposeScope();
        var positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var types = tokenTypeIds ?? zeros_like(inputIds, dtype: ScalarType.Int64);
        var sum = MetaSafe.Lookup(word_embeddings, inputIds) + MetaSafe.Lookup(token_type_embeddings, types) + MetaSafe.Lookup(position_embeddings, positions);
        return dropout.call(MetaSafe.Normalize(LayerNorm, sum, LayerNorm.eps)).MoveToOuterDisposeScope();
    }
}
