using Lily.Tuners;

namespace Lily.Tests.Support;

/// <summary>
/// Lily's formula written out with plain loops over doubles, independent of TorchSharp, so tests
/// compare the library against arithmetic rather than against itself.
/// </summary>
public static class LilyReference
{
    /// <summary>
    /// y[s, t] = W x + b + scaling · h Σ_e p_e B_e with h = A x, where p is chosen per <paramref name="routing"/>.
    /// x is [samples][tokens][dIn]; W [dOut][dIn]; A [r][dIn]; R [E][r]; B [E][r][dOut].
    /// </summary>
    public static double[][][] Forward(double[][][] x, double[][] w, double[] b, double[][] a, double[][] router, double[][][] experts, double scaling, LilyRouting routing)
    {
        int samples = x.Length, tokens = x[0].Length, r = a.Length, e = router.Length, dOut = w.Length;
        var h = Map(x, v => MatVec(a, v));
        var logits = Map(h, v => MatVec(router, v));

        double[][][] p = routing switch
        {
            LilyRouting.BatchMean => Broadcast(Mean(logits.SelectMany(s => s).Select(Softmax).ToArray()), samples, tokens),
            LilyRouting.PerSample => logits.Select(s => Repeat(Softmax(Sum(s)), tokens)).ToArray(),
            _ => Map(logits, Softmax),
        };

        var y = new double[samples][][];
        for (int s = 0; s < samples; s++)
        {
            y[s] = new double[tokens][];
            for (int t = 0; t < tokens; t++)
            {
                var baseOut = MatVec(w, x[s][t]);
                y[s][t] = new double[dOut];
                for (int o = 0; o < dOut; o++)
                {
                    double delta = 0;
                    for (int k = 0; k < e; k++)
                        for (int i = 0; i < r; i++)
                            delta += p[s][t][k] * h[s][t][i] * experts[k][i][o];
                    y[s][t][o] = baseOut[o] + b[o] + scaling * delta;
                }
            }
        }
        return y;
    }

    private static double[] MatVec(double[][] m, double[] v) => m.Select(row => row.Zip(v, (a, b) => a * b).Sum()).ToArray();

    private static double[] Softmax(double[] z)
    {
        double max = z.Max();
        var ex = z.Select(v => Math.Exp(v - max)).ToArray();
        double sum = ex.Sum();
        return ex.Select(v => v / sum).ToArray();
    }

    private static double[] Sum(double[][] rows) => Enumerable.Range(0, rows[0].Length).Select(j => rows.Sum(r => r[j])).ToArray();

    private static double[] Mean(double[][] rows) => Sum(rows).Select(v => v / rows.Length).ToArray();

    private static double[][] Repeat(double[] v, int n) => Enumerable.Repeat(v, n).ToArray();

    private static double[][][] Broadcast(double[] v, int samples, int tokens) => Enumerable.Range(0, samples).Select(_ => Repeat(v, tokens)).ToArray();

    private static double[][][] Map(double[][][] x, Func<double[], double[]> f) => x.Select(s => s.Select(f).ToArray()).ToArray();
}
