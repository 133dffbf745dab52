using System.Security.Cryptography;
using Lily.Bert.Conversion;
using Lily.Bert.Modeling;
using Lily.Serialization;

namespace Lily.Bert.Tests.Conversion;

public sealed class OnnxBertConverterTests(MiniLmOnnxFixture fixture) : IClassFixture<MiniLmOnnxFixture>
{
    private static readonly string[] Linears = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"];

    [Fact]
    public void Conversion_IsDeterministic_ByteForByte()
    {
        foreach (var file in new[] { OnnxBertConverter.ConfigFileName, OnnxBertConverter.WeightsFileName })
            File.ReadAllBytes(Path.Combine(fixture.Second, file)).Should().Equal(File.ReadAllBytes(Path.Combine(fixture.First, file)), file);
    }

    [Fact]
    public void Config_IsInferredFromTheGraph()
    {
        var config = BertConfig.Load(Path.Combine(fixture.First, OnnxBertConverter.ConfigFileName));
        config.Should().Be(new BertConfig
        {
            VocabSize = 30522, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 12, IntermediateSize = 1536,
            HiddenAct = "gelu", MaxPositionEmbeddings = 512, TypeVocabSize = 2, LayerNormEps = 1e-12,
        });
    }

    [Fact]
    public void Checkpoint_HoldsExactlyTheHuggingFaceTensors_WithTheirShapes()
    {
        // all-MiniLM-L6-v2's BertModel state dict, written out from the architecture (hidden 384, FFN 1536, 6 layers).
        var expected = new Dictionary<string, long[]>
        {
            ["embeddings.word_embeddings.weight"] = [30522, 384],
            ["embeddings.position_embeddings.weight"] = [512, 384],
            ["embeddings.token_type_embeddings.weight"] = [2, 384],
            ["embeddings.LayerNorm.weight"] = [384],
            ["embeddings.LayerNorm.bias"] = [384],
            ["pooler.dense.weight"] = [384, 384],
            ["pooler.dense.bias"] = [384],
        };
        for (var i = 0; i < 6; i++)
        {
            foreach (var linear in Linears)
            {
                var (outFeatures, inFeatures) = linear switch { "intermediate.dense" => (1536, 384), "output.dense" => (384, 1536), _ => (384, 384) };
                expected[$"encoder.layer.{i}.{linear}.weight"] = [outFeatures, inFeatures];
                expected[$"encoder.layer.{i}.{linear}.bias"] = [outFeatures];
            }
            foreach (var norm in new[] { "attention.output.LayerNorm", "output.LayerNorm" })
            {
                expected[$"encoder.layer.{i}.{norm}.weight"] = [384];
                expected[$"encoder.layer.{i}.{norm}.bias"] = [384];
            }
        }

        var (tensors, metadata) = SafeTensorsFile.Read(Path.Combine(fixture.First, OnnxBertConverter.WeightsFileName));
        try
        {
            tensors.Keys.Should().BeEquivalentTo(expected.Keys);
            foreach (var (name, tensor) in tensors)
            {
                tensor.shape.Should().Equal(expected[name], name);
                tensor.dtype.Should().Be(torch.ScalarType.Float32, name);
            }
            metadata["lily.converted_from"].Should().Be("onnx");
            metadata["lily.source_sha256"].Should().Be(Convert.ToHexString(SHA256.HashData(fixture.Onnx)).ToLowerInvariant());
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    [Fact]
    public void LinearWeights_AreTheirMatMulInitializers_Transposed()
    {
        var graph = fixture.Model.Graph;
        var initializers = graph.Initializers.ToDictionary(t => t.Name);
        var (tensors, _) = SafeTensorsFile.Read(Path.Combine(fixture.First, OnnxBertConverter.WeightsFileName));
        try
        {
            // Follow the wiring in the test itself: the Add reading <prefix>.bias, the MatMul feeding that Add, its weight input.
            foreach (var linear in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "intermediate.dense" })
            {
                var prefix = $"encoder.layer.0.{linear}";
                var add = graph.Nodes.Single(n => n.OpType == "Add" && n.Inputs.Contains(prefix + ".bias"));
                var matMul = graph.Nodes.Single(n => n.OpType == "MatMul" && add.Inputs.Contains(n.Outputs[0]));
                var onnxWeight = initializers[matMul.Inputs[1]];
                using var stored = torch.tensor(onnxWeight.ToFloats(), onnxWeight.Dims); // [in, out]
                using var expected = stored.t();
                tensors[prefix + ".weight"].shape.Should().Equal(expected.shape);
                tensors[prefix + ".weight"].allclose(expected, rtol: 0, atol: 0).Should().BeTrue(prefix);
                tensors[prefix + ".bias"].shape[0].Should().Be(expected.shape[0], "the bias has one entry per output row");
            }
            // q, k and v are different matrices: a mix-up between them would not pass the check above for all three.
            tensors["encoder.layer.0.attention.self.query.weight"].allclose(tensors["encoder.layer.0.attention.self.key.weight"], rtol: 0, atol: 0).Should().BeFalse();
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    [Fact]
    public void EveryInitializer_IsMappedOrAKnownNonWeight()
    {
        using var converted = OnnxBertConverter.Map(fixture.Model, "MiniLM");
        var accounted = converted.Sources.Values.Select(s => s.Initializer).Concat(converted.Unused.Keys);
        accounted.Should().BeEquivalentTo(fixture.Model.Graph.Initializers.Select(t => t.Name));
        // Nothing with float data is dropped: only integer constants and the position-id buffer.
        fixture.Model.Graph.Initializers.Where(t => converted.Unused.ContainsKey(t.Name))
            .Should().OnlyContain(t => t.DataType == OnnxTensor.Int64 || t.DataType == OnnxTensor.Int32);
        converted.Sources.Count(s => s.Value.Transposed).Should().Be(36, "6 layers × 6 Linear weights are anonymous MatMul inputs");
    }

    [Fact]
    public void AnUnknownFloatInitializer_IsRefused_NamingIt()
    {
        var onnx = WithExtraInitializer(fixture.Onnx, "mystery.weight", [1f, 2f]);
        var act = () => OnnxBertConverter.Convert(onnx, Path.Combine(fixture.Root, "refused"), "extra");
        act.Should().Throw<InvalidDataException>().WithMessage("*'mystery.weight'*refusing to drop it*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(-1)]
    public void MalformedOnnx_GivesAClearError(int length)
    {
        // 0: empty; 1000: a prefix cut inside the graph; -1: bytes that are not protobuf at all.
        var bytes = length switch
        {
            0 => [],
            -1 => Enumerable.Range(0, 64).Select(i => (byte)(0xFF - i)).ToArray(),
            _ => fixture.Onnx[..length],
        };
        var act = () => OnnxBertConverter.Convert(bytes, Path.Combine(fixture.Root, "malformed"), "broken.onnx");
        act.Should().Throw<InvalidDataException>().WithMessage("broken.onnx*");
        File.Exists(Path.Combine(fixture.Root, "malformed", OnnxBertConverter.WeightsFileName)).Should().BeFalse();
    }

    [Fact]
    public void AnOnnxModelThatIsNotBert_IsRefused()
    {
        var onnx = Model(Graph(Tensor("x", [2], [1f, 2f])));
        var act = () => OnnxBertConverter.Convert(onnx, Path.Combine(fixture.Root, "notbert"), "tiny.onnx");
        act.Should().Throw<InvalidDataException>().WithMessage("tiny.onnx*embeddings.word_embeddings.weight*");
    }

    // A few protobuf writers, enough to build test models by hand (field numbers from onnx.proto).
    private static byte[] WithExtraInitializer(byte[] onnx, string name, float[] values)
    {
        var reader = new ProtoReader(onnx, "test");
        var output = new List<byte>();
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            if (field == 1) output.AddRange([.. Varint(1 << 3), .. Varint(reader.ReadVarint())]);
            else if (field == 7) output.AddRange(Field(7, [.. reader.ReadBytes().ToArray(), .. Tensor(name, [values.Length], values)]));
            else reader.Skip(wire);
        }
        return [.. output];
    }

    private static byte[] Model(byte[] graph) => [.. Varint(1 << 3), .. Varint(7), .. Field(7, graph)];

    private static byte[] Graph(byte[] initializerField) => initializerField;

    private static byte[] Tensor(string name, long[] dims, float[] values)
    {
        var tensor = new List<byte>();
        foreach (var d in dims) tensor.AddRange([.. Varint(1 << 3), .. Varint((ulong)d)]);
        tensor.AddRange([.. Varint(2 << 3), .. Varint(1)]);
        tensor.AddRange(Field(8, System.Text.Encoding.UTF8.GetBytes(name)));
        tensor.AddRange(Field(9, values.SelectMany(BitConverter.GetBytes).ToArray()));
        return Field(5, [.. tensor]);
    }

    private static byte[] Field(int number, byte[] payload) => [.. Varint((ulong)(number << 3 | 2)), .. Varint((ulong)payload.Length), .. payload];

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        } while (value != 0);
        return [.. bytes];
    }
}
