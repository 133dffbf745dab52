using Lily.Bert.Modeling;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Modeling;

public sealed class BertModelTests
{
    private static readonly string[] Layer0Names =
    [
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.attention.self.query.bias",
        "encoder.layer.0.attention.self.key.weight",
        "encoder.layer.0.attention.self.key.bias",
        "encoder.layer.0.attention.self.value.weight",
        "encoder.layer.0.attention.self.value.bias",
        "encoder.layer.0.attention.output.dense.weight",
        "encoder.layer.0.attention.output.dense.bias",
        "encoder.layer.0.attention.output.LayerNorm.weight",
        "encoder.layer.0.attention.output.LayerNorm.bias",
        "encoder.layer.0.intermediate.dense.weight",
        "encoder.layer.0.intermediate.dense.bias",
        "encoder.layer.0.output.dense.weight",
        "encoder.layer.0.output.dense.bias",
        "encoder.layer.0.output.LayerNorm.weight",
        "encoder.layer.0.output.LayerNorm.bias",
    ];

    private static readonly string[] EmbeddingNames =
    [
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
    ];

    private static readonly string[] PoolerNames = ["pooler.dense.weight", "pooler.dense.bias"];

    [Fact]
    public void StateDictNames_AreHuggingFaces()
    {
        using var model = new BertModel(TinyBert.Config);
        var expected = EmbeddingNames.Concat(Layer0Names).Concat(Layer0Names.Select(n => n.Replace("layer.0.", "layer.1.", StringComparison.Ordinal))).Concat(PoolerNames);
        model.state_dict().Keys.Should().BeEquivalentTo(expected);

        using var headless = new BertModel(TinyBert.Config, addPoolingLayer: false);
        headless.state_dict().Keys.Should().NotContain(PoolerNames).And.HaveCount(expected.Count() - 2);
    }

    [Fact]
    public void ClassifierStateDictNames_AreHuggingFaces()
    {
        using var model = new BertForSequenceClassification(TinyBert.Config, numLabels: 3);
        var names = model.state_dict().Keys.ToList();
        names.Should().Contain(["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight", "bert.pooler.dense.weight", "classifier.weight", "classifier.bias"]);
        names.Should().OnlyContain(n => n.StartsWith("bert.", StringComparison.Ordinal) || n.StartsWith("classifier.", StringComparison.Ordinal));
        model.Classifier.weight!.shape.Should().Equal(3, 32);
    }

    [Fact]
    public void ParameterCount_EqualsClosedFormula()
    {
        using var tiny = new BertModel(TinyBert.Config);
        tiny.parameters().Sum(p => p.numel()).Should().Be(TinyBert.ParameterCount(TinyBert.Config, pooler: true));

        // MiniLM-L6 on the meta device: shapes only, no 90 MB of weights.
        var expected = TinyBert.ParameterCount(TinyBert.MiniLm, pooler: true);
        expected.Should().BeInRange(22_650_000, 22_750_000, "all-MiniLM-L6-v2 has 22.7M parameters");
        using var miniLm = new BertModel(TinyBert.MiniLm, device: new Device(DeviceType.META));
        miniLm.parameters().Sum(p => p.numel()).Should().Be(expected);
    }

    [Fact]
    public void Forward_OnMeta_GivesShapes()
    {
        var meta = new Device(DeviceType.META);
        using var model = new BertModel(TinyBert.Config, device: meta);
        model.eval();
        using var scope = NewDisposeScope();
        var ids = zeros([3, 7], dtype: ScalarType.Int64, device: meta);
        var mask = ones([3, 7], dtype: ScalarType.Int64, device: meta);
        var hidden = model.call(ids, mask);
        hidden.shape.Should().Equal(3, 7, 32);
        hidden.device_type.Should().Be(DeviceType.META);
        model.Pool(hidden, mask, Pooling.Pooler).shape.Should().Equal(3, 32);
        model.Pool(hidden, mask, Pooling.Mean).shape.Should().Equal(3, 32);
    }

    [Fact]
    public void PaddedPositions_DoNotChangeRealTokens()
    {
        using var model = TinyBert.Create(seed: 1);
        using var scope = NewDisposeScope();
        var ids = TinyBert.Ids(2, 2, 5);
        var mask = ones([2, 5], dtype: ScalarType.Int64);
        var reference = model.call(ids, mask);

        var padded = cat([ids, TinyBert.Ids(3, 2, 3)], 1);
        var paddedMask = cat([mask, zeros([2, 3], dtype: ScalarType.Int64)], 1);
        var hidden = model.call(padded, paddedMask);
        var diff = (hidden.narrow(1, 0, 5) - reference).abs().max().item<float>();
        diff.Should().BeLessThan(1e-6f);

        // The same padding left visible (mask 1) changes the real tokens: the mask is what the test measures.
        var unmasked = model.call(padded, ones_like(paddedMask));
        (unmasked.narrow(1, 0, 5) - reference).abs().max().item<float>().Should().BeGreaterThan(1e-3f);

        // Bool and float masks mean the same as int64 ones.
        model.call(padded, paddedMask.to(ScalarType.Bool)).allclose(hidden, rtol: 0, atol: 0).Should().BeTrue();
        model.call(padded, paddedMask.to(ScalarType.Float32)).allclose(hidden, rtol: 0, atol: 0).Should().BeTrue();

        // Mean pooling over the padded batch equals mean pooling of the unpadded one.
        var pooledPadded = model.Pool(hidden, paddedMask, Pooling.Mean);
        var pooled = model.Pool(reference, mask, Pooling.Mean);
        (pooledPadded - pooled).abs().max().item<float>().Should().BeLessThan(1e-6f);
    }

    [Fact]
    public void TokenTypes_ChangeTheOutput_AndZerosAreTheDefault()
    {
        using var model = TinyBert.Create(seed: 4);
        using var scope = NewDisposeScope();
        var ids = TinyBert.Ids(5, 2, 6);
        var mask = ones([2, 6], dtype: ScalarType.Int64);
        var plain = model.call(ids, mask);
        TinyBert.BitEqual(model.forward(ids, mask, zeros_like(ids)), plain).Should().BeTrue();
        (model.forward(ids, mask, ones_like(ids)) - plain).abs().max().item<float>().Should().BeGreaterThan(1e-3f);
    }

    [Fact]
    public void Float64Model_Runs_AndAgreesWithFloat32()
    {
        using var model32 = TinyBert.Create(seed: 6);
        using var model64 = new BertModel(TinyBert.Config, dtype: ScalarType.Float64);
        model64.eval();
        using (no_grad())
        {
            var source = model32.state_dict();
            foreach (var (name, p) in model64.state_dict()) p.copy_(source[name]);
        }

        using var scope = NewDisposeScope();
        var ids = TinyBert.Ids(7, 2, 6);
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0, 0 } });
        var h64 = model64.call(ids, mask);
        h64.dtype.Should().Be(ScalarType.Float64);
        model64.Pool(h64, mask, Pooling.Pooler).dtype.Should().Be(ScalarType.Float64);
        var h32 = model32.call(ids, mask);
        (h64 - h32.to(ScalarType.Float64)).abs().max().item<double>().Should().BeLessThan(1e-4);
    }
}
