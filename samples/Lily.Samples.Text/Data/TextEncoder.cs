using Microsoft.ML.Tokenizers;
using TorchSharp;

namespace Lily.Samples.Text.Data;

/// <summary>
/// BERT WordPiece tokenization of text batches into model inputs, over <see cref="BertTokenizer"/> and a
/// <c>vocab.txt</c> (one token per line; the line number is the id).
/// </summary>
public sealed class TextEncoder
{
    private readonly BertTokenizer tokenizer;

    /// <summary>Loads a vocabulary file.</summary>
    /// <param name="vocabPath">The <c>vocab.txt</c> path.</param>
    /// <param name="lowercase">Lower-case before tokenizing (true for uncased models such as MiniLM).</param>
    public TextEncoder(string vocabPath, bool lowercase = true)
        : this(BertTokenizer.Create(vocabPath, Options(lowercase)))
    {
    }

    /// <summary>Loads a vocabulary from a stream (e.g. a manifest resource).</summary>
    /// <param name="vocab">The <c>vocab.txt</c> content.</param>
    /// <param name="lowercase">Lower-case before tokenizing.</param>
    public TextEncoder(Stream vocab, bool lowercase = true)
        : this(BertTokenizer.Create(vocab, Options(lowercase)))
    {
    }

    private TextEncoder(BertTokenizer tokenizer) => this.tokenizer = tokenizer;

    /// <summary>The [CLS] id.</summary>
    public int ClsId => tokenizer.ClassificationTokenId;

    /// <summary>The [SEP] id.</summary>
    public int SepId => tokenizer.SeparatorTokenId;

    /// <summary>The [PAD] id.</summary>
    public int PadId => tokenizer.PaddingTokenId;

    /// <summary>The word-piece ids of a text, without special tokens or truncation.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The ids.</returns>
    public IReadOnlyList<int> TokenIds(string text) => tokenizer.EncodeToIds(Normalize(text), addSpecialTokens: false);

    /// <summary>The word-piece tokens of a text, without special tokens (for inspection).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The token strings.</returns>
    public IReadOnlyList<string> Tokens(string text) =>
        tokenizer.EncodeToTokens(Normalize(text), out _).Select(t => t.Value).ToList();

    /// <summary>Encodes a batch: [CLS] + ids truncated to <paramref name="maxLength"/> − 2 + [SEP], then [PAD].</summary>
    /// <param name="texts">The texts.</param>
    /// <param name="maxLength">The sequence length of every row (at least 2).</param>
    /// <returns>The batch tensors, int64 [texts.Count, maxLength].</returns>
    public EncodedBatch Encode(IReadOnlyList<string> texts, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var ids = new long[texts.Count * maxLength];
        var mask = new long[texts.Count * maxLength];
        if (PadId != 0)
        {
            Array.Fill(ids, PadId);
        }

        for (var row = 0; row < texts.Count; row++)
        {
            var pieces = TokenIds(texts[row]);
            var kept = Math.Min(pieces.Count, maxLength - 2);
            var offset = row * maxLength;
            ids[offset] = ClsId;
            for (var i = 0; i < kept; i++)
            {
                ids[offset + 1 + i] = pieces[i];
            }

            ids[offset + 1 + kept] = SepId;
            Array.Fill(mask, 1L, offset, kept + 2);
        }

        long[] shape = [texts.Count, maxLength];
        return new EncodedBatch(
            torch.tensor(ids, shape, torch.int64),
            torch.tensor(mask, shape, torch.int64),
            torch.zeros(shape, torch.int64));
    }

    // Microsoft.ML.Tokenizers 3.0 drops tab / newline as control characters, joining the words around them; Hugging
    // Face's BERT (and the pretrained models) treat them as spaces, so turn every whitespace character into a space.
    private static string Normalize(string text) =>
        text.AsSpan().IndexOfAny(OtherWhitespace) < 0 ? text : string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsWhiteSpace(source[i]) ? ' ' : source[i];
            }
        });

    private static readonly System.Buffers.SearchValues<char> OtherWhitespace =
        System.Buffers.SearchValues.Create("\t\n\r\v\f\u0085\u00a0\u2028\u2029");

    // Hugging Face's uncased BERT strips accents whenever it lower-cases (strip_accents follows do_lower_case).
    private static BertOptions Options(bool lowercase) =>
        new() { LowerCaseBeforeTokenization = lowercase, RemoveNonSpacingMarks = lowercase };
}
