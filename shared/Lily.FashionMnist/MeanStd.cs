namespace Lily.FashionMnist;

/// <summary>Mean and sample standard deviation (0 for a single value), as every Fashion-MNIST table reports them.</summary>
public readonly record struct MeanStd(double Mean, double Std, int Count)
{
    /// <summary>The statistics of <paramref name="values"/>.</summary>
    public static MeanStd Of(IEnumerable<double> values)
    {
        var list = values.ToList();
        double mean = list.Average();
        double std = list.Count > 1 ? Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1)) : 0;
        return new MeanStd(mean, std, list.Count);
    }

    /// <summary>As a percentage: <c>94.20 ± 0.22 %</c> (no ± for one run).</summary>
    public string Percent() => Count > 1
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * Mean:F2} ± {100 * Std:F2} %")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * Mean:F2} %");
}
