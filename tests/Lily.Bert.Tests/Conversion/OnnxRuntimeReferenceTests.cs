using Lily.Bert.Conversion;
using Lily.Serialization;

namespace Lily.Bert.Tests.Conversion;

public sealed class OnnxRuntimeReferenceTests(MiniLmOnnxFixture fixture) : IClassFixture<MiniLmOnnxFixture>
{
    private static readonly long[] Ids = [101, 7592, 2088, 102, 101, 2023, 102, 0];
    private static readonly long[] Mask = [1, 1, 1, 1, 1, 1, 1, 0];
    private static readonly long[] Types = new long[8];

    [Fact]
    public void Graph_TakesTheThreeBertInputs_AndGivesTheLastHiddenState()
    {
        fixture.Model.Graph.Inputs.Select(i => i.Name).Should().Equal("input_ids", "attention_mask", "token_type_ids");
        fixture.Model.Graph.Outputs[0].Name.Should().Be("last_hidden_state");
        var (values, shape) = OnnxRuntimeReference.LastHiddenState(fixture.Onnx, Ids, Mask, Types, batch: 2);
        shape.Should().Equal(2, 4, 384);
        values.Should().HaveCount(2 * 4 * 384).And.OnlyContain(v => float.IsFinite(v));
    }

    [Fact]
    public void ConvertedPooler_ReproducesTheGraphsPooledOutput()
    {
        // MiniLM's export also outputs the pooler: tanh(dense(h[:, 0])). Recomputing it from ORT's hidden state
        // with the converted pooler.dense checks that the one Linear the export stores by name keeps its layout.
        var outputs = OnnxRuntimeReference.Run(fixture.Onnx, Ids, Mask, Types, batch: 2);
        var pooledName = fixture.Model.Graph.Outputs[1].Name;
        var (hiddenValues, hiddenShape) = outputs["last_hidden_state"];
        var (pooledValues, pooledShape) = outputs[pooledName];
        var (tensors, _) = SafeTensorsFile.Read(Path.Combine(fixture.First, OnnxBertConverter.WeightsFileName));
        try
        {
            using var hidden = torch.tensor(hiddenValues, hiddenShape);
            using var cls = hidden.select(1, 0);
            using var dense = torch.nn.functional.linear(cls, tensors["pooler.dense.weight"], tensors["pooler.dense.bias"]);
            using var pooled = dense.tanh();
            using var expected = torch.tensor(pooledValues, pooledShape);
            pooled.allclose(expected, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }
}
