using Lily.Bert.Tokenization;
using System.Text;
using Lily.TextClassification.Data;

namespace Lily.Bert.Tests.Data;

public sealed class TextEncoderTests
{
    // WordPiece tokens as Hugging Face's bert-base-uncased tokenizer produces them (written by hand, not computed).
    // Note "unaffable": the original BERT README's "un ##aff ##able" came from another vocabulary; with the released
    // uncased vocabulary (MiniLM's) Hugging Face gives "una ##ffa ##ble".
    public static TheoryData<string, string[]> Sentences => new()
    {
        { "unaffable", ["una", "##ffa", "##ble"] },
        { "Hello, world!", ["hello", ",", "world", "!"] },
        { "The quick brown fox jumps over the lazy dog.", ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "."] },
        { "Tokenization", ["token", "##ization"] },
        { "embeddings", ["em", "##bed", "##ding", "##s"] },
        { "I can't wait.", ["i", "can", "'", "t", "wait", "."] },
        { "  Café RÉSUMÉ  ", ["cafe", "resume"] },
        // Hugging Face treats tab and newline as spaces; Microsoft.ML.Tokenizers 3.0 alone would glue the words.
        { "café\trésumé\nhello\r\nworld", ["cafe", "resume", "hello", "world"] },
    };

    private static readonly Lazy<TextEncoder> Encoder = new(() => new TextEncoder(MiniLmVocab.FilePath));

    // The reference vocabulary, parsed here independently of the tokenizer: id = 0-based line number.
    private static readonly Lazy<Dictionary<string, int>> Vocab = new(() =>
    {
        var lines = Encoding.UTF8.GetString(MiniLmVocab.Content).Split('\n');
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            var token = lines[i].TrimEnd('\r');
            if (token.Length > 0 || i < lines.Length - 1)
            {
                vocab.TryAdd(token, i);
            }
        }

        return vocab;
    });

    [Fact]
    public void Vocab_has_crlf_lines_and_bert_special_ids()
    {
        MiniLmVocab.Content.AsSpan().IndexOf("\r\n"u8).Should().BeGreaterThan(0, "the case this test guards is CRLF line ends");
        Vocab.Value.Should().HaveCount(30522);
        Vocab.Value["[PAD]"].Should().Be(0);
        Vocab.Value["[UNK]"].Should().Be(100);
        Vocab.Value["[CLS]"].Should().Be(101);
        Vocab.Value["[SEP]"].Should().Be(102);
        Encoder.Value.ClsId.Should().Be(101);
        Encoder.Value.SepId.Should().Be(102);
        Encoder.Value.PadId.Should().Be(0);
        new TextEncoder(new MemoryStream(MiniLmVocab.Content)).TokenIds("hello world").Should().Equal(7592, 2088);
    }

    [Theory]
    [MemberData(nameof(Sentences))]
    public void Token_ids_match_hand_written_wordpieces(string text, string[] expectedTokens)
    {
        var expectedIds = expectedTokens.Select(t => Vocab.Value[t]).ToList();
        Encoder.Value.TokenIds(text).Should().Equal(expectedIds);
        Encoder.Value.Tokens(text).Should().Equal(expectedTokens);
    }

    [Fact]
    public void Hello_world_has_the_well_known_ids()
    {
        using var batch = Encoder.Value.Encode(["Hello, world!"], 8);
        batch.InputIds.data<long>().ToArray().Should().Equal(101, 7592, 1010, 2088, 999, 102, 0, 0);
        batch.AttentionMask.data<long>().ToArray().Should().Equal(1, 1, 1, 1, 1, 1, 0, 0);
    }

    [Fact]
    public void Encode_pads_truncates_and_marks()
    {
        var longText = string.Join(' ', Enumerable.Repeat("unaffable", 20));
        string[] texts = ["Hello, world!", longText, string.Empty];
        const int length = 16;
        using var batch = Encoder.Value.Encode(texts, length);
        foreach (var tensor in new[] { batch.InputIds, batch.AttentionMask, batch.TokenTypeIds })
        {
            tensor.shape.Should().Equal(3, length);
            tensor.dtype.Should().Be(torch.ScalarType.Int64);
        }

        var ids = batch.InputIds.data<long>().ToArray();
        var mask = batch.AttentionMask.data<long>().ToArray();
        batch.TokenTypeIds.data<long>().ToArray().Should().OnlyContain(v => v == 0);

        // Row 0: fits; [CLS] pieces [SEP] then padding.
        var hello = Encoder.Value.TokenIds(texts[0]);
        ids[..length].Should().Equal([101, .. hello.Select(i => (long)i), 102, .. Enumerable.Repeat(0L, length - hello.Count - 2)]);
        mask[..length].Sum().Should().Be(hello.Count + 2);

        // Row 1: 60 pieces truncated to length - 2, [SEP] last, no padding.
        var pieces = Encoder.Value.TokenIds(longText);
        pieces.Should().HaveCount(60);
        ids[length..(2 * length)].Should().Equal([101, .. pieces.Take(length - 2).Select(i => (long)i), 102]);
        mask[length..(2 * length)].Should().OnlyContain(v => v == 1);

        // Row 2: empty text is [CLS] [SEP].
        ids[(2 * length)..].Should().Equal([101, 102, .. Enumerable.Repeat(0L, length - 2)]);
        mask[(2 * length)..].Sum().Should().Be(2);
    }
}
