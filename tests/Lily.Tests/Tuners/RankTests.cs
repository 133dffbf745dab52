using Lily.Analysis;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class RankTests
{
    // Numerical rank from the singular values: the factors are float32, so values below
    // 1e-5 of the largest are rounding noise.
    private static long Rank(Tensor m)
    {
        var s = linalg.svdvals(m.to(ScalarType.Float64));
        double max = s.max().item<double>();
        return max == 0 ? 0 : s.gt(max * 1e-5).sum().item<long>();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void Lora_delta_has_rank_exactly_r_for_random_factors(int r)
    {
        manual_seed(r);
        var model = new ParallelLinears(1, 12, 10);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["0"], R = r, LoraAlpha = 2 * r });
        var lora = (LoraLinear)peft.AdaptedModules[0].Layer;
        Rank(lora.DeltaWeight()).Should().Be(0, "B starts at zero");
        TensorData.Set(lora.LoraB.weight!, randn(10, r));
        var delta = lora.DeltaWeight();
        delta.shape.Should().Equal(10, 12);
        Rank(delta).Should().Be(r);
        // The update B A x equals ΔW x.
        var x = randn(3, 12);
        (model.call(x) - nn.functional.linear(x, lora.BaseLayer.weight!, lora.BaseLayer.bias)).allclose(x.matmul(delta.t()), atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void Lora_delta_rank_is_at_most_r_even_when_B_is_degenerate()
    {
        manual_seed(9);
        var model = new ParallelLinears(1, 12, 10);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["0"], R = 4 });
        var lora = (LoraLinear)peft.AdaptedModules[0].Layer;
        var column = randn(10, 1);
        TensorData.Set(lora.LoraB.weight!, column.expand(10, 4).contiguous());
        Rank(lora.DeltaWeight()).Should().Be(1);
    }

    [Fact]
    public void Lily_per_layer_delta_rank_is_at_most_r()
    {
        manual_seed(10);
        const int r = 3;
        var model = new ParallelLinears(4, 16, 14);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = r, NumB = 4, StrideA = 2 });
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        TensorData.Set(lily[0].LilyB.Weight, randn(4 * r, 14));
        var x = randn(8, 16);
        foreach (var layer in lily)
        {
            var delta = layer.DeltaWeight(layer.MeanRoutingWeights(x));
            delta.shape.Should().Equal(14, 16);
            Rank(delta).Should().Be(r);
        }
    }

    [Fact]
    public void At_an_equal_budget_Lily_reaches_a_higher_per_layer_rank_than_LoRA()
    {
        // 12 layers of 768 → 768, LoRA r = 8: 12 · 8 · (768 + 768) = 147,456 trainable.
        // Lily with one shared A (stride 12) and 2 experts: 768 r + 2 · 768 r + 12 · 2 r = 2,328 r,
        // so r = 63 gives 146,664 (within 1 %) — and every layer's update can have rank 63, not 8.
        const int layers = 12, d = 768, loraR = 8, lilyR = 63;
        manual_seed(12);
        var loraModel = new ParallelLinears(layers, d, d);
        var lora = PeftModel.Create(loraModel, new LoraConfig { TargetModulesRegex = @"proj\.\d+", R = loraR });
        var lilyModel = new ParallelLinears(layers, d, d);
        var lily = PeftModel.Create(lilyModel, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = lilyR, StrideA = layers, NumB = 2 });

        long loraBudget = lora.GetParameterSummary().TrainableParameters, lilyBudget = lily.GetParameterSummary().TrainableParameters;
        loraBudget.Should().Be(147_456);
        lilyBudget.Should().Be(146_664);
        Math.Abs(lilyBudget - loraBudget).Should().BeLessThan(loraBudget / 100);

        var loraLayer = (LoraLinear)lora.AdaptedModules[5].Layer;
        TensorData.Set(loraLayer.LoraB.weight!, randn(d, loraR));
        var lilyLayer = (LilyLinear)lily.AdaptedModules[5].Layer;
        TensorData.Set(lilyLayer.LilyB.Weight, randn(2 * lilyR, d));

        long loraRank = Rank(loraLayer.DeltaWeight());
        long lilyRank = Rank(lilyLayer.DeltaWeight(lilyLayer.MeanRoutingWeights(randn(4, d))));
        loraRank.Should().Be(loraR);
        lilyRank.Should().Be(lilyR);
        lilyRank.Should().BeGreaterThan(loraRank);
    }
}
