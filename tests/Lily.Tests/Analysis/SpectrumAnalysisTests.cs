using Lily.Analysis;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class SpectrumAnalysisTests
{
    // U diag(σ) Vᵀ with orthonormal U, V: a matrix whose singular values are known exactly.
    private static Tensor WithSingularValues(long m, long n, double[] sigma, ScalarType dtype = ScalarType.Float64)
    {
        var (u, _) = linalg.qr(randn(m, sigma.Length, dtype: ScalarType.Float64));
        var (v, _) = linalg.qr(randn(n, sigma.Length, dtype: ScalarType.Float64));
        return u.matmul(diag(tensor(sigma))).matmul(v.t()).to(dtype);
    }

    [Fact]
    public void Dense_spectrum_matches_hand_computation()
    {
        manual_seed(1);
        var spectrum = SpectrumAnalysis.Of(WithSingularValues(7, 5, [3, 2, 1]));

        spectrum.Rows.Should().Be(7);
        spectrum.Columns.Should().Be(5);
        spectrum.SingularValues.Should().HaveCount(5);
        spectrum.SingularValues.Take(3).Should().Equal([3.0, 2.0, 1.0], (x, y) => Math.Abs(x - y) < 1e-10);
        spectrum.SingularValues.Skip(3).Should().OnlyContain(s => s < 1e-12);
        spectrum.NumericalRank.Should().Be(3);
        spectrum.FrobeniusNorm.Should().BeApproximately(Math.Sqrt(14), 1e-10);
        spectrum.StableRank.Should().BeApproximately(14.0 / 9.0, 1e-10);
        // p = (1/2, 1/3, 1/6): H = ½ ln 2 + ⅓ ln 3 + ⅙ ln 6.
        double h = 0.5 * Math.Log(2) + Math.Log(3) / 3 + Math.Log(6) / 6;
        spectrum.EffectiveRank.Should().BeApproximately(Math.Exp(h), 1e-9);
        spectrum.EnergyFraction(1).Should().BeApproximately(9.0 / 14.0, 1e-12);
    }

    [Fact]
    public void Effective_rank_is_n_for_the_identity_and_1_for_rank_one()
    {
        SpectrumAnalysis.Of(eye(6)).EffectiveRank.Should().BeApproximately(6, 1e-6);
        manual_seed(2);
        var rankOne = randn(8, 1).matmul(randn(1, 5));
        var s = SpectrumAnalysis.Of(rankOne);
        s.NumericalRank.Should().Be(1);
        s.EffectiveRank.Should().BeApproximately(1, 1e-5);
        s.StableRank.Should().BeApproximately(1, 1e-6);
    }

    [Fact]
    public void Zero_matrix_has_all_ranks_zero()
    {
        var s = SpectrumAnalysis.Of(zeros(4, 3));
        s.NumericalRank.Should().Be(0);
        s.EffectiveRank.Should().Be(0);
        s.StableRank.Should().Be(0);
        s.FrobeniusNorm.Should().Be(0);
        s.EnergyFraction(1).Should().Be(1);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    public void Default_numerical_rank_agrees_with_torch_matrix_rank(ScalarType dtype)
    {
        manual_seed(3);
        // Rank 4 in exact arithmetic, plus one singular value just above and one far below the float32 threshold.
        var m = WithSingularValues(20, 12, [5, 3, 1, 0.5, 1e-9], dtype);
        long expected = linalg.matrix_rank(m).item<long>();
        var s = SpectrumAnalysis.Of(m);
        s.NumericalRank.Should().Be((int)expected);
        s.NumericalRank.Should().Be(dtype == ScalarType.Float32 ? 4 : 5);
        s.Tolerance.Should().BeApproximately(s.MaxSingularValue * 20 * finfo(dtype).eps, 1e-20);
    }

    [Fact]
    public void Explicit_relative_tolerance_is_used()
    {
        manual_seed(4);
        var m = WithSingularValues(9, 9, [10, 1, 0.05]);
        SpectrumAnalysis.Of(m, relativeTolerance: 0.004).NumericalRank.Should().Be(3);
        SpectrumAnalysis.Of(m, relativeTolerance: 0.02).NumericalRank.Should().Be(2);
        SpectrumAnalysis.Of(m, relativeTolerance: 0.5).NumericalRank.Should().Be(1);
        var act = () => SpectrumAnalysis.Of(m, relativeTolerance: -1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("relativeTolerance");
    }

    [Theory]
    [InlineData(30, 20, 4)]
    [InlineData(12, 40, 6)]
    [InlineData(3, 10, 5)] // m < r: the product has rank at most 3
    public void Thin_route_equals_dense_route(int m, int n, int r)
    {
        manual_seed(m + n + r);
        var b = randn(m, r);
        var a = randn(r, n);
        const double scaling = -0.75; // the sign must not change singular values
        var dense = SpectrumAnalysis.Of(b.matmul(a).mul(scaling));
        var thin = SpectrumAnalysis.OfLowRankProduct(b, a, scaling);

        int p = Math.Min(Math.Min(m, n), r);
        thin.SingularValues.Should().HaveCount(p);
        thin.Rows.Should().Be(m);
        thin.Columns.Should().Be(n);
        for (int i = 0; i < p; i++)
            thin.SingularValues[i].Should().BeApproximately(dense.SingularValues[i], 1e-4 * dense.SingularValues[0]);
        dense.SingularValues.Skip(p).All(s => s < 1e-4 * dense.SingularValues[0]).Should().BeTrue();
        thin.NumericalRank.Should().Be(dense.NumericalRank).And.Be(p);
        thin.FrobeniusNorm.Should().BeApproximately(dense.FrobeniusNorm, 1e-4 * dense.FrobeniusNorm);
        thin.StableRank.Should().BeApproximately(dense.StableRank, 1e-4);
        thin.EffectiveRank.Should().BeApproximately(dense.EffectiveRank, 1e-3);
        thin.Tolerance.Should().BeApproximately(dense.Tolerance, 1e-6 * dense.Tolerance);
    }

    [Fact]
    public void Thin_route_sees_a_degenerate_factor()
    {
        manual_seed(5);
        var b = randn(16, 1).expand(16, 4).contiguous();
        var s = SpectrumAnalysis.OfLowRankProduct(b, randn(4, 10));
        s.NumericalRank.Should().Be(1);
    }

    [Fact]
    public void Mismatched_or_non_matrix_factors_are_rejected()
    {
        var act = () => SpectrumAnalysis.OfLowRankProduct(randn(5, 3), randn(4, 6));
        act.Should().Throw<ArgumentException>().WithParameterName("a");
        var vector = () => SpectrumAnalysis.Of(randn(5));
        vector.Should().Throw<ArgumentException>().WithParameterName("matrix");
        var integers = () => SpectrumAnalysis.Of(ones(3, 3, dtype: ScalarType.Int64));
        integers.Should().Throw<ArgumentException>().WithParameterName("matrix");
    }

    [Fact]
    public void Leaves_no_tensor_behind_and_records_no_gradient()
    {
        manual_seed(6);
        var b = randn(10, 3).requires_grad_();
        var a = randn(3, 8).requires_grad_();
        var product = b.matmul(a);
        using var scope = NewDisposeScope();
        SpectrumAnalysis.OfLowRankProduct(b, a).NumericalRank.Should().Be(3);
        SpectrumAnalysis.Of(product).NumericalRank.Should().Be(3);
        scope.DisposablesCount.Should().Be(0, "every temporary is freed inside the analysis");
    }
}
