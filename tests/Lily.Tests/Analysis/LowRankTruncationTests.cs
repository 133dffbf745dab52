using Lily.Analysis;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class LowRankTruncationTests
{
    private static double SquaredFrobenius(Tensor t) => t.to(ScalarType.Float64).square().sum().item<double>();

    [Fact]
    public void Truncating_to_the_full_rank_reproduces_the_update()
    {
        manual_seed(11);
        var b = randn(24, 6);
        var a = randn(6, 18);
        const double scaling = 2.0;
        using var squeezed = LowRankTruncation.Truncate(b, a, scaling, 6);

        squeezed.A.shape.Should().Equal(6, 18);
        squeezed.B.shape.Should().Equal(24, 6);
        squeezed.A.dtype.Should().Be(ScalarType.Float32);
        squeezed.Scaling.Should().Be(scaling);
        squeezed.Rank.Should().Be(6);
        squeezed.EnergyKept.Should().BeApproximately(1, 1e-12);
        squeezed.ResidualFrobeniusNorm.Should().Be(0);
        var original = b.matmul(a).mul(scaling);
        var rebuilt = squeezed.B.matmul(squeezed.A).mul(squeezed.Scaling);
        (rebuilt - original).abs().max().item<float>().Should().BeLessThan(1e-5f * original.abs().max().item<float>());
        rebuilt.allclose(original, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Truncation_error_is_the_Eckart_Young_error(int k)
    {
        manual_seed(12);
        var b = randn(20, 5, dtype: ScalarType.Float64);
        var a = randn(5, 15, dtype: ScalarType.Float64);
        const double scaling = 0.5;
        var original = b.matmul(a).mul(scaling);
        var sigma = TensorData.ToDoubles(linalg.svdvals(original));
        using var squeezed = LowRankTruncation.Truncate(b, a, scaling, k);

        squeezed.A.shape.Should().Equal(k, 15);
        squeezed.B.shape.Should().Equal(20, k);
        var approximation = squeezed.B.matmul(squeezed.A).mul(squeezed.Scaling);
        double expected = sigma.Skip(k).Sum(s => s * s);
        SquaredFrobenius(original - approximation).Should().BeApproximately(expected, 1e-9 * sigma[0] * sigma[0]);
        squeezed.ResidualFrobeniusNorm.Should().BeApproximately(Math.Sqrt(expected), 1e-9 * sigma[0]);
        squeezed.EnergyKept.Should().BeApproximately(sigma.Take(k).Sum(s => s * s) / sigma.Sum(s => s * s), 1e-12);
        squeezed.SingularValues.Should().Equal(sigma.Take(5), (x, y) => Math.Abs(x - y) < 1e-9 * sigma[0]);
    }

    [Fact]
    public void Factors_are_balanced_and_a_target_scaling_is_divided_out()
    {
        manual_seed(13);
        var b = randn(16, 4, dtype: ScalarType.Float64);
        var a = randn(4, 12, dtype: ScalarType.Float64);
        // PEFT with lora_alpha = 8: scaling 8 / 4 = 2 before, 8 / 2 = 4 after squeezing to rank 2.
        using var kept = LowRankTruncation.Truncate(b, a, 2.0, 2);
        using var rescaled = LowRankTruncation.Truncate(b, a, 2.0, 2, targetScaling: 4.0);

        rescaled.Scaling.Should().Be(4.0);
        rescaled.B.matmul(rescaled.A).mul(4.0).allclose(kept.B.matmul(kept.A).mul(2.0), rtol: 1e-10, atol: 1e-10).Should().BeTrue();
        // Balanced split: B'ᵀB' = A'A'ᵀ = diag(σ_k / target) for the target-scaled pair.
        var gramB = rescaled.B.t().matmul(rescaled.B);
        var gramA = rescaled.A.matmul(rescaled.A.t());
        gramB.allclose(gramA, rtol: 1e-9, atol: 1e-9).Should().BeTrue();
        var expected = tensor(rescaled.SingularValues.Take(2).Select(s => s / 4.0).ToArray());
        gramA.diagonal().allclose(expected, rtol: 1e-9).Should().BeTrue();
    }

    [Fact]
    public void Negative_scaling_ratio_keeps_the_sign_of_the_update()
    {
        manual_seed(14);
        var b = randn(10, 3, dtype: ScalarType.Float64);
        var a = randn(3, 7, dtype: ScalarType.Float64);
        using var squeezed = LowRankTruncation.Truncate(b, a, -1.5, 3, targetScaling: 3.0);
        squeezed.B.matmul(squeezed.A).mul(3.0).allclose(b.matmul(a).mul(-1.5), rtol: 1e-9, atol: 1e-9).Should().BeTrue();
    }

    [Fact]
    public void Energy_is_in_the_unit_interval_and_monotone_in_k()
    {
        manual_seed(15);
        var b = randn(30, 8);
        var a = randn(8, 25);
        var energies = Enumerable.Range(1, 8).Select(k =>
        {
            using var f = LowRankTruncation.Truncate(b, a, 1.0, k);
            return f.EnergyKept;
        }).ToArray();
        energies.Should().OnlyContain(e => e >= 0 && e <= 1);
        energies.Should().BeInAscendingOrder();
        energies[0].Should().BeLessThan(energies[^1]);
        energies[^1].Should().BeApproximately(1, 1e-12);
    }

    [Fact]
    public void Rank_above_the_product_rank_pads_with_zeros()
    {
        manual_seed(16);
        var b = randn(3, 5);
        var a = randn(5, 9);
        using var squeezed = LowRankTruncation.Truncate(b, a, 1.0, 5);
        squeezed.B.shape.Should().Equal(3, 5);
        squeezed.A.shape.Should().Equal(5, 9);
        squeezed.A.narrow(0, 3, 2).abs().max().item<float>().Should().Be(0);
        squeezed.B.matmul(squeezed.A).allclose(b.matmul(a), rtol: 1e-5, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(5)]
    public void New_rank_outside_1_to_r_is_rejected(int newRank)
    {
        var act = () => LowRankTruncation.Truncate(randn(6, 4), randn(4, 6), 1.0, newRank);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("newRank");
    }

    [Fact]
    public void Zero_target_scaling_is_rejected()
    {
        var act = () => LowRankTruncation.Truncate(randn(6, 4), randn(4, 6), 1.0, 2, targetScaling: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("targetScaling");
    }

    [Fact]
    public void Only_the_returned_factors_stay_in_the_caller_scope()
    {
        manual_seed(17);
        var b = randn(8, 4).requires_grad_();
        var a = randn(4, 8).requires_grad_();
        using var scope = NewDisposeScope();
        var squeezed = LowRankTruncation.Truncate(b, a, 1.0, 2);
        scope.DisposablesCount.Should().Be(2);
        squeezed.A.requires_grad.Should().BeFalse();
        squeezed.Dispose();
    }
}
