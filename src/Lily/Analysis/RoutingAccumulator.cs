using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Accumulates a router's per-token expert probabilities over any number of batches and
/// summarises them (<see cref="RoutingStatistics"/>). Each <see cref="Add"/> reduces its batch on the
/// tensor's device in float64 and keeps only E + 1 sums and E counts on the CPU, so memory does
/// not grow with the number of tokens. Not thread-safe.
/// </summary>
public sealed class RoutingAccumulator
{
    private readonly double[] probabilitySums;
    private readonly long[] argmaxCounts;
    private double entropySum;

    /// <summary>Creates an empty accumulator for a router over <paramref name="experts"/> experts.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="experts"/> is less than 1.</exception>
    public RoutingAccumulator(int experts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        Experts = experts;
        probabilitySums = new double[experts];
        argmaxCounts = new long[experts];
    }

    /// <summary>Number of experts E.</summary>
    public int Experts { get; }

    /// <summary>How many tokens have been added.</summary>
    public long TokenCount { get; private set; }

    /// <summary>
    /// Adds a batch of routing probabilities, <c>[..., E]</c> (every leading dimension counts as
    /// tokens), each row a probability vector such as a softmax over the router's logits.
    /// Gradients are not recorded; the temporaries are freed before returning.
    /// </summary>
    /// <param name="probabilities">Per-token expert probabilities, any real floating dtype and device.</param>
    /// <exception cref="ArgumentException">
    /// The last dimension is not E, the tensor is not floating point, or a row is not a probability
    /// vector (negative entries, or a sum off 1 by more than max(1e-4, 2·eps of the dtype)).
    /// </exception>
    public void Add(Tensor probabilities)
    {
        AnalysisGuards.FloatingPoint(probabilities, nameof(probabilities));
        if (probabilities.dim() < 1 || probabilities.shape[^1] != Experts)
            throw new ArgumentException(
                $"Expected probabilities [..., {Experts}] but got shape [{string.Join(", ", probabilities.shape)}].", nameof(probabilities));

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var p = probabilities.to(ScalarType.Float64).reshape(-1, Experts);
        long tokens = p.shape[0];
        if (tokens == 0) return;
        AnalysisGuards.ProbabilityRows(p, probabilities.dtype, nameof(probabilities));
        // Rounding may leave tiny negatives; entropy needs p ≥ 0 (entr(0) = 0).
        p = p.clamp_min(0);

        // One transfer per batch: [sums over tokens (E) | entropy sum (1)].
        var sums = cat([p.sum(dim: 0), special.entr(p).sum().unsqueeze(0)], 0).cpu();
        var counts = p.argmax(-1).bincount(null, Experts).cpu();
        var sumValues = sums.data<double>();
        var countValues = counts.data<long>();
        for (int e = 0; e < Experts; e++)
        {
            probabilitySums[e] += sumValues[e];
            argmaxCounts[e] += countValues[e];
        }
        entropySum += sumValues[Experts];
        TokenCount += tokens;
    }

    /// <summary>Forgets every token added so far.</summary>
    public void Reset()
    {
        Array.Clear(probabilitySums);
        Array.Clear(argmaxCounts);
        entropySum = 0;
        TokenCount = 0;
    }

    /// <summary>Summarises the tokens added so far (the accumulator stays usable).</summary>
    /// <exception cref="InvalidOperationException">No token has been added.</exception>
    public RoutingStatistics GetStatistics()
    {
        if (TokenCount == 0)
            throw new InvalidOperationException("No routing probabilities have been added yet.");
        double n = TokenCount;
        var mean = probabilitySums.Select(s => s / n).ToArray();
        var fractions = argmaxCounts.Select(c => c / n).ToArray();
        return new RoutingStatistics(TokenCount, mean, entropySum / n, Entropy(mean), fractions);
    }

    /// <summary>Shannon entropy in nats of a probability vector, with 0 · ln 0 = 0.</summary>
    internal static double Entropy(IReadOnlyList<double> p)
    {
        double h = 0;
        foreach (double x in p)
            if (x > 0) h -= x * Math.Log(x);
        return h;
    }
}
