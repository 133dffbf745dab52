using Lily.Analysis;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class RoutingAccumulatorTests
{
    [Fact]
    public void Uniform_routing_has_token_entropy_ln_E()
    {
        var acc = new RoutingAccumulator(4);
        acc.Add(full(10, 4, 0.25));
        var stats = acc.GetStatistics();
        stats.TokenCount.Should().Be(10);
        stats.Experts.Should().Be(4);
        stats.MeanMixture.Should().OnlyContain(p => Math.Abs(p - 0.25) < 1e-7);
        stats.MeanTokenEntropy.Should().BeApproximately(Math.Log(4), 1e-7);
        stats.MixtureEntropy.Should().BeApproximately(Math.Log(4), 1e-7);
        stats.MutualInformation.Should().BeApproximately(0, 1e-7);
        // All ties: argmax takes the first expert.
        stats.ArgmaxFraction.Should().Equal(1.0, 0.0, 0.0, 0.0);
    }

    [Fact]
    public void One_hot_routing_has_zero_token_entropy_and_counts_argmax_per_expert()
    {
        var acc = new RoutingAccumulator(3);
        // Experts 0, 2, 2, 1 in a first batch, then 2, 2 in a second batch of shape [1, 2, 3].
        acc.Add(nn.functional.one_hot(tensor(new long[] { 0, 2, 2, 1 }), 3).to(ScalarType.Float32));
        acc.Add(nn.functional.one_hot(tensor(new long[] { 2, 2 }), 3).to(ScalarType.Float64).view(1, 2, 3));
        var stats = acc.GetStatistics();

        stats.TokenCount.Should().Be(6);
        stats.MeanTokenEntropy.Should().Be(0);
        stats.MeanMixture.Should().Equal([1 / 6.0, 1 / 6.0, 4 / 6.0], (x, y) => Math.Abs(x - y) < 1e-12);
        stats.ArgmaxFraction.Should().Equal([1 / 6.0, 1 / 6.0, 4 / 6.0], (x, y) => Math.Abs(x - y) < 1e-12);
        double h = -(2 * (1 / 6.0) * Math.Log(1 / 6.0) + (4 / 6.0) * Math.Log(4 / 6.0));
        stats.MixtureEntropy.Should().BeApproximately(h, 1e-12);
        stats.MutualInformation.Should().BeApproximately(h, 1e-12);
    }

    [Fact]
    public void Streaming_over_batches_equals_one_pass_and_a_hand_loop()
    {
        manual_seed(21);
        var probabilities = nn.functional.softmax(randn(50, 5, dtype: ScalarType.Float64).mul(2), -1);
        var streamed = new RoutingAccumulator(5);
        foreach (var chunk in probabilities.split(13, 0)) streamed.Add(chunk);
        var once = new RoutingAccumulator(5);
        once.Add(probabilities);
        var a = streamed.GetStatistics();
        var b = once.GetStatistics();

        a.TokenCount.Should().Be(50);
        a.MeanTokenEntropy.Should().BeApproximately(b.MeanTokenEntropy, 1e-12);
        a.MeanMixture.Should().Equal(b.MeanMixture, (x, y) => Math.Abs(x - y) < 1e-12);
        a.ArgmaxFraction.Should().Equal(b.ArgmaxFraction);

        // Hand loop over the rows.
        var rows = TensorData.ToDoubles(probabilities);
        double entropy = 0;
        var mean = new double[5];
        var argmax = new double[5];
        for (int t = 0; t < 50; t++)
        {
            var row = rows.Skip(5 * t).Take(5).ToArray();
            entropy -= row.Sum(p => p * Math.Log(p));
            for (int e = 0; e < 5; e++) mean[e] += row[e] / 50;
            argmax[Array.IndexOf(row, row.Max())] += 1.0 / 50;
        }
        a.MeanTokenEntropy.Should().BeApproximately(entropy / 50, 1e-12);
        a.MeanMixture.Should().Equal(mean, (x, y) => Math.Abs(x - y) < 1e-12);
        a.ArgmaxFraction.Should().Equal(argmax, (x, y) => Math.Abs(x - y) < 1e-12);
        a.MixtureEntropy.Should().BeApproximately(-mean.Sum(p => p * Math.Log(p)), 1e-12);
        a.MeanTokenEntropy.Should().BeLessThan(a.MixtureEntropy, "the entropy of the mean exceeds the mean entropy (concavity)");
    }

    [Fact]
    public void Reset_empties_and_empty_statistics_throw()
    {
        var acc = new RoutingAccumulator(2);
        var act = () => acc.GetStatistics();
        act.Should().Throw<InvalidOperationException>();
        acc.Add(full(3, 2, 0.5));
        acc.TokenCount.Should().Be(3);
        acc.Reset();
        acc.TokenCount.Should().Be(0);
        act.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Rejects_wrong_expert_count_and_non_probabilities()
    {
        var acc = new RoutingAccumulator(3);
        var wrongWidth = () => acc.Add(full(2, 4, 0.25));
        wrongWidth.Should().Throw<ArgumentException>().WithParameterName("probabilities");
        var notNormalised = () => acc.Add(ones(2, 3));
        notNormalised.Should().Throw<ArgumentException>().WithParameterName("probabilities");
        var negative = () => acc.Add(tensor(new float[] { 1.5f, -0.5f, 0f }).view(1, 3));
        negative.Should().Throw<ArgumentException>().WithParameterName("probabilities");
        acc.TokenCount.Should().Be(0, "a rejected batch adds nothing");
        var zeroExperts = () => new RoutingAccumulator(0);
        zeroExperts.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("experts");
    }

    [Fact]
    public void Add_frees_its_temporaries_and_records_no_gradient()
    {
        var logits = randn(6, 4).requires_grad_();
        var probabilities = nn.functional.softmax(logits, -1);
        var acc = new RoutingAccumulator(4);
        using var scope = NewDisposeScope();
        acc.Add(probabilities);
        scope.DisposablesCount.Should().Be(0);
        acc.TokenCount.Should().Be(6);
    }
}
