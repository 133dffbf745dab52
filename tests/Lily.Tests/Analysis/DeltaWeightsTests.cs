using Lily.Analysis;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class DeltaWeightsTests
{
    [Fact]
    public void Lily_delta_equals_an_explicit_loop_over_experts()
    {
        manual_seed(41);
        const int r = 3, experts = 4, dIn = 7, dOut = 5;
        const double scaling = 1.5;
        var a = randn(r, dIn, dtype: ScalarType.Float64);
        var pool = randn(experts * r, dOut, dtype: ScalarType.Float64);
        var mixture = tensor(new[] { 0.1, 0.2, 0.3, 0.4 });

        var delta = DeltaWeights.LilyDeltaWeight(a, pool, mixture, scaling);
        delta.shape.Should().Equal(dOut, dIn);

        // ΔW[o, i] = scaling · Σ_e p_e Σ_k B_e[k, o] A[k, i], with B_e rows e·r … e·r + r − 1.
        var A = TensorData.ToDoubles(a);
        var B = TensorData.ToDoubles(pool);
        var p = new[] { 0.1, 0.2, 0.3, 0.4 };
        var got = TensorData.ToDoubles(delta);
        for (int o = 0; o < dOut; o++)
        {
            for (int i = 0; i < dIn; i++)
            {
                double expected = 0;
                for (int e = 0; e < experts; e++)
                    for (int k = 0; k < r; k++)
                        expected += p[e] * B[(e * r + k) * dOut + o] * A[k * dIn + i];
                got[o * dIn + i].Should().BeApproximately(scaling * expected, 1e-12);
            }
        }
        SpectrumAnalysis.Of(delta).NumericalRank.Should().Be(r);
    }

    [Fact]
    public void Lily_delta_agrees_with_the_layer_and_with_the_thin_spectrum()
    {
        manual_seed(42);
        const int r = 2, experts = 3;
        var a = randn(r, 9);
        var pool = randn(experts * r, 6);
        var mixture = nn.functional.softmax(randn(experts), 0);
        var delta = DeltaWeights.LilyDeltaWeight(a, pool, mixture, 0.5);
        delta.dtype.Should().Be(ScalarType.Float32);

        // One-hot mixture picks one expert: ΔW = scaling · B_1ᵀ A.
        var pick = DeltaWeights.LilyDeltaWeight(a, pool, tensor(new float[] { 0, 1, 0 }), 0.5);
        pick.allclose(pool.narrow(0, r, r).t().matmul(a).mul(0.5), atol: 1e-6).Should().BeTrue();

        var combined = DeltaWeights.LilyCombinedExpert(pool, mixture, r);
        combined.shape.Should().Equal(r, 6);
        DeltaWeights.OfLowRankProduct(combined.t(), a, 0.5).allclose(delta, atol: 1e-6).Should().BeTrue();

        var thin = SpectrumAnalysis.OfLilyUpdate(a, pool, mixture, 0.5);
        var dense = SpectrumAnalysis.Of(delta);
        thin.SingularValues.Should().HaveCount(r);
        thin.SingularValues.Should().Equal(dense.SingularValues.Take(r), (x, y) => Math.Abs(x - y) < 1e-5 * dense.SingularValues[0]);
    }

    [Fact]
    public void Lily_delta_rejects_a_pool_that_does_not_match_E_times_r()
    {
        var act = () => DeltaWeights.LilyDeltaWeight(randn(3, 4), randn(10, 5), full(3, 1 / 3.0), 1.0);
        act.Should().Throw<ArgumentException>().WithParameterName("pool");
        var matrixMixture = () => DeltaWeights.LilyDeltaWeight(randn(3, 4), randn(9, 5), full(3, 1, 1 / 3.0), 1.0);
        matrixMixture.Should().Throw<ArgumentException>().WithParameterName("mixture");
    }

    [Fact]
    public void Lora_delta_is_scaled_product_and_detached()
    {
        manual_seed(43);
        var b = randn(5, 2).requires_grad_();
        var a = randn(2, 4).requires_grad_();
        var delta = DeltaWeights.OfLowRankProduct(b, a, 3.0);
        delta.requires_grad.Should().BeFalse();
        using (no_grad())
            delta.allclose(b.matmul(a).mul(3.0), atol: 1e-6).Should().BeTrue();
    }
}
