using Lily.Analysis;
using Lily.Tests.Support;
using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class LilyForwardTests
{
    private static (ParallelLinears Model, PeftModel<ParallelLinears> Peft, LilyLinear Layer) SingleLayer(int dIn, int dOut, int r, int experts, double scaling, LilyRouting routing)
    {
        var model = new ParallelLinears(1, dIn, dOut);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["0"], R = r, NumB = experts, Scaling = scaling, Routing = routing });
        return (model, peft, (LilyLinear)peft.AdaptedModules[0].Layer);
    }

    [Fact]
    public void Small_case_worked_by_hand()
    {
        // d = 4, r = 2, E = 2. A picks x0, x1; a zero router gives p = [½, ½];
        // B0 routes h to outputs 0, 1 and B1 to outputs 2, 3, so B̃ = ½ (B0 + B1).
        // x = [1, 2, 3, 4]: h = [1, 2], h B̃ = [½, 1, ½, 1], W = 0, b = 0, scaling 2 → y = [1, 2, 1, 2].
        var (model, _, layer) = SingleLayer(4, 4, 2, 2, 2.0, LilyRouting.BatchMean);
        TensorData.Set(layer.BaseLayer.weight!, zeros(4, 4));
        TensorData.Set(layer.BaseLayer.bias!, zeros(4));
        TensorData.Set(layer.LilyA.weight!, tensor(new float[] { 1, 0, 0, 0, 0, 1, 0, 0 }, [2, 4]));
        TensorData.Set(layer.Router.weight!, zeros(2, 2));
        TensorData.Set(layer.LilyB.Weight, tensor(new float[] { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 }, [4, 4]));

        var y = model.call(tensor(new float[] { 1, 2, 3, 4 }, [1, 4]));

        TensorData.ToDoubles(y).Should().Equal(1, 2, 1, 2);
    }

    [Theory]
    [InlineData(LilyRouting.BatchMean)]
    [InlineData(LilyRouting.PerSample)]
    [InlineData(LilyRouting.PerToken)]
    public void Matches_the_formula_computed_with_plain_loops(LilyRouting routing)
    {
        const int dIn = 4, dOut = 4, r = 2, e = 2, samples = 2, tokens = 3;
        var rng = new Random(7);
        var x = Enumerable.Range(0, samples).Select(_ => TensorData.Random(rng, tokens, dIn)).ToArray();
        var w = TensorData.Random(rng, dOut, dIn);
        var b = TensorData.Random(rng, 1, dOut)[0];
        var a = TensorData.Random(rng, r, dIn);
        var router = TensorData.Random(rng, e, r).Select(row => row.Select(v => v * 3).ToArray()).ToArray();
        var experts = Enumerable.Range(0, e).Select(_ => TensorData.Random(rng, r, dOut)).ToArray();

        var (model, _, layer) = SingleLayer(dIn, dOut, r, e, 0.7, routing);
        TensorData.Set(layer.BaseLayer.weight!, TensorData.Matrix(w));
        TensorData.Set(layer.BaseLayer.bias!, tensor(b).to(ScalarType.Float32));
        TensorData.Set(layer.LilyA.weight!, TensorData.Matrix(a));
        TensorData.Set(layer.Router.weight!, TensorData.Matrix(router));
        TensorData.Set(layer.LilyB.Weight, TensorData.Matrix(experts.SelectMany(m => m).ToArray()));

        var y = TensorData.ToDoubles(model.call(TensorData.Cube(x)));
        var expected = LilyReference.Forward(x, w, b, a, router, experts, 0.7, routing).SelectMany(s => s.SelectMany(t => t)).ToArray();

        y.Should().HaveCount(expected.Length);
        for (int i = 0; i < y.Length; i++) y[i].Should().BeApproximately(expected[i], 1e-6);
    }

    [Fact]
    public void Routing_modes_differ_on_a_batch()
    {
        // Guards the test above against modes that silently collapse into one another.
        manual_seed(3);
        var (model, _, layer) = SingleLayer(6, 5, 3, 3, 1.0, LilyRouting.BatchMean);
        TensorData.Set(layer.LilyB.Weight, randn(9, 5));
        TensorData.Set(layer.Router.weight!, randn(3, 3) * 3);
        var x = randn(2, 4, 6);
        var outputs = Enum.GetValues<LilyRouting>().Select(mode =>
        {
            layer.Routing = mode;
            return model.call(x);
        }).ToList();
        outputs[0].allclose(outputs[1], atol: 1e-5).Should().BeFalse();
        outputs[0].allclose(outputs[2], atol: 1e-5).Should().BeFalse();
        outputs[1].allclose(outputs[2], atol: 1e-5).Should().BeFalse();
    }

    [Theory]
    [InlineData(new long[] { 1, 1, 6 })]
    [InlineData(new long[] { 1, 6 })]
    [InlineData(new long[] { 6 })]
    public void Routing_modes_agree_for_one_sample_of_one_token(long[] shape)
    {
        manual_seed(5);
        var (model, _, layer) = SingleLayer(6, 5, 3, 3, 1.5, LilyRouting.BatchMean);
        TensorData.Set(layer.LilyB.Weight, randn(9, 5));
        var x = randn(shape);
        var outputs = Enum.GetValues<LilyRouting>().Select(mode =>
        {
            layer.Routing = mode;
            return model.call(x);
        }).ToList();
        outputs[0].shape.Should().Equal(shape[..^1].Append(5));
        outputs[1].allclose(outputs[0], atol: 1e-6).Should().BeTrue();
        outputs[2].allclose(outputs[0], atol: 1e-6).Should().BeTrue();
    }

    [Theory]
    [InlineData(LilyRouting.BatchMean)]
    [InlineData(LilyRouting.PerSample)]
    [InlineData(LilyRouting.PerToken)]
    public void Output_equals_base_model_at_init(LilyRouting routing)
    {
        manual_seed(11);
        var model = new ToyModel(3, 8, 16, 4);
        var x = randn(3, 5, 8);
        var before = model.call(x);
        PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "k_proj", "v_proj", "fc1", "fc2", "head"], R = 4, StrideA = 2, Routing = routing });
        // B starts at zero, so the update is exactly zero, not merely small.
        model.call(x).allclose(before, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Delta_weight_reproduces_the_batch_mean_update()
    {
        manual_seed(13);
        var (model, _, layer) = SingleLayer(6, 5, 3, 2, 0.5, LilyRouting.BatchMean);
        TensorData.Set(layer.LilyB.Weight, randn(6, 5));
        var x = randn(4, 6);
        var y = model.call(x);
        var deltaW = layer.DeltaWeight(layer.MeanRoutingWeights(x));
        var expected = nn.functional.linear(x, layer.BaseLayer.weight! + deltaW, layer.BaseLayer.bias);
        y.allclose(expected, atol: 1e-5).Should().BeTrue();
    }
}
