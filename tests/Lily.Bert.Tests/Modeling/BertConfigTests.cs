using Lily.Bert.Modeling;

namespace Lily.Bert.Tests.Modeling;

public sealed class BertConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bert-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void MiniLmConfig_RoundTripsThroughConfigJson()
    {
        var config = new BertConfig { HiddenSize = 384, NumHiddenLayers = 6, IntermediateSize = 1536, NumAttentionHeads = 12 };
        var path = Path.Combine(_dir, "config.json");
        config.Save(path);
        BertConfig.Load(path).Should().Be(config);
        config.HeadSize.Should().Be(32);
    }

    [Fact]
    public void OmittedFields_TakeTransformersDefaults()
    {
        var config = BertConfig.Load(Write("""{"hidden_size": 64, "num_attention_heads": 4}"""));
        config.Should().Be(new BertConfig { HiddenSize = 64, NumAttentionHeads = 4 });
        config.LayerNormEps.Should().Be(1e-12);
        config.VocabSize.Should().Be(30522);
    }

    [Theory]
    [InlineData("""{"position_embedding_type": "relative_key"}""", "position_embedding_type")]
    [InlineData("""{"hidden_act": "swish"}""", "hidden_act")]
    [InlineData("""{"model_type": "roberta"}""", "model_type")]
    [InlineData("""{"hidden_size": 100, "num_attention_heads": 12}""", "num_attention_heads")]
    [InlineData("""{"hidden_size": "384"}""", "hidden_size")]
    [InlineData("""{"num_hidden_layers": 0}""", "num_hidden_layers")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"vocab_size": 10, "pad_token_id": 10}""", "pad_token_id")]
    public void UnsupportedOrInvalidFields_AreRefusedByName(string json, string named)
    {
        var path = Write(json);
        var act = () => BertConfig.Load(path);
        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*").WithMessage($"*{named}*");
    }
}
