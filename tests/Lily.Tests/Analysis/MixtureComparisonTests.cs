using Lily.Analysis;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class MixtureComparisonTests
{
    [Fact]
    public void Identical_rows_have_zero_divergence()
    {
        var mixtures = tensor(new double[] { 0.2, 0.3, 0.5, 0.2, 0.3, 0.5, 0.2, 0.3, 0.5 }).view(3, 3);
        var result = MixtureComparison.PairwiseJensenShannon(mixtures);
        result.Layers.Should().Be(3);
        result.Matrix.Cast<double>().Should().OnlyContain(v => v == 0);
        result.MeanOffDiagonal.Should().Be(0);
    }

    [Fact]
    public void Disjoint_one_hots_have_divergence_ln_2()
    {
        var mixtures = eye(3, dtype: ScalarType.Float32);
        var result = MixtureComparison.PairwiseJensenShannon(mixtures);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                result.Matrix[i, j].Should().BeApproximately(i == j ? 0 : Math.Log(2), 1e-12);
        result.MeanOffDiagonal.Should().BeApproximately(Math.Log(2), 1e-12);
    }

    [Fact]
    public void Matrix_matches_the_scalar_formula_and_a_hand_value()
    {
        // p = (1, 0), q = (½, ½): m = (¾, ¼); JS = ½ ln(4/3) + ½ (½ ln(2/3) + ½ ln 2).
        double hand = 0.5 * Math.Log(4.0 / 3) + 0.25 * Math.Log(2.0 / 3) + 0.25 * Math.Log(2);
        MixtureComparison.JensenShannon([1, 0], [0.5, 0.5]).Should().BeApproximately(hand, 1e-15);

        manual_seed(31);
        var mixtures = nn.functional.softmax(randn(4, 6, dtype: ScalarType.Float64), -1);
        var rows = Enumerable.Range(0, 4).Select(i => TensorData.ToDoubles(mixtures[i])).ToArray();
        var result = MixtureComparison.PairwiseJensenShannon(mixtures);
        double sum = 0;
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                double expected = i == j ? 0 : MixtureComparison.JensenShannon(rows[i], rows[j]);
                result.Matrix[i, j].Should().BeApproximately(expected, 1e-12);
                result.Matrix[i, j].Should().Be(result.Matrix[j, i]);
                if (i != j) sum += expected;
            }
        }
        result.MeanOffDiagonal.Should().BeApproximately(sum / 12, 1e-12);
        result.MeanOffDiagonal.Should().BeInRange(1e-6, Math.Log(2));
    }

    [Fact]
    public void A_single_layer_has_zero_mean_divergence_and_bad_rows_are_rejected()
    {
        MixtureComparison.PairwiseJensenShannon(tensor(new[] { 0.5, 0.5 }).view(1, 2)).MeanOffDiagonal.Should().Be(0);
        var act = () => MixtureComparison.PairwiseJensenShannon(ones(2, 3));
        act.Should().Throw<ArgumentException>().WithParameterName("mixtures");
        var lengths = () => MixtureComparison.JensenShannon([1.0], [0.5, 0.5]);
        lengths.Should().Throw<ArgumentException>();
    }
}
