using Lily.Bert.Tokenization;
using Lily.Bert.Modeling;
using Lily.Bert.Pretrained;
using Lily.Bert.Tests.Conversion;
using Lily.TextClassification.Data;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Pretrained;

/// <summary>
/// The TorchSharp encoder, loaded through the strict loader from the converted checkpoint, computes what ONNX
/// Runtime computes from the original ONNX file, on real tokenized sentences with padding, for both bundled models.
/// </summary>
public sealed class EncoderEqualsOnnxRuntimeTests(PreparedCacheFixture cache) : IClassFixture<PreparedCacheFixture>
{
    // Real sentences of different lengths, so the batch has padding and the mask matters.
    private static readonly string[] Sentences =
    [
        "Parameter-efficient fine-tuning trains a few small matrices beside a frozen model.",
        "URGENT!!! You have WON a $1,000,000 prize -- click here to claim it now.",
        "The jury said the election was conducted well.",
        "Café résumé naïve: accents, tabs\tand new\nlines.",
    ];

    [Theory]
    [InlineData(BundledModel.MiniLM)]
    [InlineData(BundledModel.ArcticXs)]
    public void LastHiddenState_EqualsOnnxRuntime(BundledModel which)
    {
        var checkpoint = cache.Get(which);
        var (dll, image) = BundledCheckpoints.ReadPackageAssembly(which);
        var onnx = BundledCheckpoints.Resource(which, dll, image, "model.onnx").ToArray();
        var encoder = new TextEncoder(checkpoint.VocabPath, checkpoint.LowerCase);
        using var batch = encoder.Encode(Sentences, maxLength: 32);
        long[] ids = batch.InputIds.data<long>().ToArray(), mask = batch.AttentionMask.data<long>().ToArray(), types = batch.TokenTypeIds.data<long>().ToArray();
        mask.Should().Contain(0, "the batch must have padding for the mask to be tested");

        var (expected, shape) = OnnxRuntimeReference.LastHiddenState(onnx, ids, mask, types, Sentences.Length);

        using var model = BertModel.FromPretrained(checkpoint.Directory);
        model.eval();
        using var noGrad = no_grad();
        using var actual = model.forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        actual.shape.Should().Equal(shape);
        var values = actual.data<float>().ToArray();
        // The outputs that matter are the real tokens' (pooling and every head mask the padding): ≤ 1e-5, as asked.
        // Padded positions are computed too and compared more loosely: their states are far from anything the
        // model was trained on, larger inside the layers, and float32's rounding there reaches 5e-5 for MiniLM.
        int hidden = (int)shape[2];
        double real = 0, padded = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double d = Math.Abs(values[i] - expected[i]);
            if (mask[i / hidden] == 1) real = Math.Max(real, d); else padded = Math.Max(padded, d);
        }
        real.Should().BeLessThanOrEqualTo(1e-5, $"{which}: the largest difference from ONNX Runtime over real tokens");
        padded.Should().BeLessThanOrEqualTo(1e-4, $"{which}: the largest difference from ONNX Runtime over padded positions");
        expected.Max(e => (double)Math.Abs(e)).Should().BeGreaterThan(0.1, "the outputs are not trivially small");
    }

    [Fact]
    public void MiniLmPooler_EqualsOnnxRuntime()
    {
        var checkpoint = cache.MiniLM;
        var (dll, image) = BundledCheckpoints.ReadPackageAssembly(BundledModel.MiniLM);
        var onnx = BundledCheckpoints.Resource(BundledModel.MiniLM, dll, image, "model.onnx").ToArray();
        var encoder = new TextEncoder(checkpoint.VocabPath, checkpoint.LowerCase);
        using var batch = encoder.Encode(Sentences, maxLength: 24);
        var outputs = OnnxRuntimeReference.Run(onnx, batch.InputIds.data<long>().ToArray(), batch.AttentionMask.data<long>().ToArray(),
            batch.TokenTypeIds.data<long>().ToArray(), Sentences.Length);
        var pooled = outputs.Single(o => o.Key != "last_hidden_state").Value;

        using var model = BertModel.FromPretrained(checkpoint.Directory);
        model.HasPooler.Should().BeTrue();
        model.eval();
        using var noGrad = no_grad();
        using var hidden = model.forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        using var actual = model.Pool(hidden, batch.AttentionMask, Pooling.Pooler);
        actual.shape.Should().Equal(pooled.Shape);
        actual.data<float>().ToArray().Zip(pooled.Values, (a, e) => (double)Math.Abs(a - e)).Max().Should().BeLessThanOrEqualTo(1e-5);
    }
}
