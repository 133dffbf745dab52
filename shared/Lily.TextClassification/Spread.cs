using System.Globalization;

namespace Lily.TextClassification;

/// <summary>Mean and sample standard deviation of accuracies over seeds, printed as percentages.</summary>
public readonly record struct Spread(double Mean, double Std, int Runs)
{
    /// <summary>The mean and spread of <paramref name="values"/> (std 0 for one value).</summary>
    public static Spread Of(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        return new Spread(mean, v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)), v.Length);
    }

    /// <inheritdoc />
    public override string ToString() => Runs < 2
        ? string.Create(CultureInfo.InvariantCulture, $"{100 * Mean:F2} %")
        : string.Create(CultureInfo.InvariantCulture, $"{100 * Mean:F2} ± {100 * Std:F2} %");
}
