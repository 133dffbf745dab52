namespace Lily.FashionMnist;

/// <summary>Draws test accuracy after each fine-tuning epoch, averaged over seeds, one line per method.</summary>
public static class LearningCurvePlot
{
    /// <summary>Saves the plot as a PNG.</summary>
    public static void Save(IReadOnlyList<MethodResult> results, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var method in results.GroupBy(r => r.Method))
        {
            int epochs = method.Min(r => r.AccuracyPerEpoch.Count);
            double[] xs = Enumerable.Range(1, epochs).Select(e => (double)e).ToArray();
            double[] ys = xs.Select((_, i) => 100 * method.Average(r => r.AccuracyPerEpoch[i])).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = method.Key;
            line.MarkerSize = 7;
        }
        plot.Title("Fashion-MNIST classes 5–9: test accuracy while fine-tuning");
        plot.XLabel("epoch");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };   // epochs are whole
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend(ScottPlot.Alignment.MiddleRight);
        plot.SavePng(path, 900, 560);
    }
}
