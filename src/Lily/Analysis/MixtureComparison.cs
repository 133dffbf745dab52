using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// Compares expert mixtures with the Jensen–Shannon divergence (natural log, so 0 … ln 2): whether
/// Lily's layers really use the shared experts differently.
/// </summary>
public static class MixtureComparison
{
    /// <summary>
    /// <c>JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)</c> with <c>m = (p + q) / 2</c>, in nats.
    /// </summary>
    /// <param name="p">A probability vector.</param>
    /// <param name="q">A probability vector of the same length.</param>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static double JensenShannon(IReadOnlyList<double> p, IReadOnlyList<double> q)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(q);
        if (p.Count != q.Count)
            throw new ArgumentException($"The vectors have different lengths ({p.Count} and {q.Count}).", nameof(q));
        double js = 0;
        for (int i = 0; i < p.Count; i++)
        {
            double m = (p[i] + q[i]) / 2;
            // m > 0 whenever p or q is; zero terms contribute nothing (0 · ln 0 = 0).
            if (p[i] > 0) js += 0.5 * p[i] * Math.Log(p[i] / m);
            if (q[i] > 0) js += 0.5 * q[i] * Math.Log(q[i] / m);
        }
        return Math.Max(0, js);
    }

    /// <summary>
    /// The pairwise Jensen–Shannon divergences between the rows of <paramref name="mixtures"/>
    /// (one mean mixture per layer, e.g. <see cref="RoutingStatistics.MeanMixture"/>), and their
    /// mean over distinct pairs. Computed in float64 on the tensor's device without gradients.
    /// </summary>
    /// <param name="mixtures">Per-layer mixtures <c>[L, E]</c>, each row a probability vector.</param>
    /// <exception cref="ArgumentException">Not a floating-point matrix, or a row is not a probability vector.</exception>
    public static LayerDivergence PairwiseJensenShannon(Tensor mixtures)
    {
        AnalysisGuards.Matrix(mixtures, nameof(mixtures));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var p = mixtures.to(ScalarType.Float64);
        AnalysisGuards.ProbabilityRows(p, mixtures.dtype, nameof(mixtures));
        p = p.clamp_min(0);
        long layers = p.shape[0];

        // [L, 1, E] against [1, L, E]: every pair at once; KL(x ‖ m) = Σ x ln x − x ln m.
        var left = p.unsqueeze(1);
        var right = p.unsqueeze(0);
        var middle = left.add(right).mul_(0.5);
        var kl = new Func<Tensor, Tensor>(x => xlogy(x, x).sub(xlogy(x, middle)).sum(-1));
        var js = kl(left).add(kl(right)).mul_(0.5).clamp_min_(0).cpu().contiguous();

        var values = js.data<double>().ToArray();
        var matrix = new double[layers, layers];
        double offDiagonal = 0;
        for (long i = 0; i < layers; i++)
        {
            for (long j = 0; j < layers; j++)
            {
                // Identical inputs give exactly 0 already; the diagonal is forced to 0 so rounding never shows.
                double v = i == j ? 0 : values[i * layers + j];
                matrix[i, j] = v;
                offDiagonal += v;
            }
        }
        double mean = layers < 2 ? 0 : offDiagonal / (layers * (layers - 1));
        return new LayerDivergence(matrix, mean);
    }
}
