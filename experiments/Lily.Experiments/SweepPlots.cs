using System.Globalization;

using Lily.FashionMnist;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>The sweep's plots (ScottPlot 5, PNG).</summary>
public static class SweepPlots
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static readonly string[] Methods = ["lora", "dora", "lily", "clora", "clora-sade"];

    /// <summary>
    /// Test accuracy against trainable parameters (log scale), mean ± sample standard deviation over
    /// seeds, one line per method.
    /// </summary>
    public static void Pareto(IReadOnlyList<SweepRun> runs, string variant, string path)
    {
        var plot = new ScottPlot.Plot();
        var ticks = new List<(double Position, string Label)>();
        foreach (var method in Methods)
        {
            var cells = runs.Where(r => r.Method == method).Select(r => r.LoraRank).Distinct().Order()
                .Select(r => SweepReport.Summarise(runs, variant, method, r)).ToList();
            if (cells.Count == 0) continue;
            double[] xs = cells.Select(c => Math.Log10(c.Trainable)).ToArray();
            double[] ys = cells.Select(c => 100 * c.Mean).ToArray();
            double[] errors = cells.Select(c => 100 * c.Std).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = SweepReport.Label(method);
            line.MarkerSize = 8;
            var bars = plot.Add.ErrorBar(xs, ys, errors);
            bars.Color = line.Color;
            if (method == "lora") ticks.AddRange(cells.Select(c => (Math.Log10(c.Trainable), c.Trainable.ToString("N0", Inv))));
        }
        plot.Axes.Bottom.SetTicks(ticks.Select(t => t.Position).ToArray(), ticks.Select(t => t.Label).ToArray());
        plot.Title($"{variant}: test accuracy vs trainable parameters (mean ± std over seeds)");
        plot.XLabel("trainable parameters (log scale; ticks at LoRA's budgets, head included)");
        plot.YLabel("test accuracy on classes 5–9 (%)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.SavePng(path, 900, 560);
    }

    /// <summary>
    /// Effective rank of ΔW per adapted layer, every analysed method at one budget (not DoRA: its update
    /// rescales whole rows of W and is not low-rank factors, so <see cref="UpdateAnalysis"/> leaves it out).
    /// </summary>
    public static void EffectiveRank(IReadOnlyList<LayerAnalysis> layers, SweepPoint point, string path)
    {
        var plot = new ScottPlot.Plot();
        string[] paths = layers.Where(l => l.Method == "lora").Select(l => l.Path).ToArray();
        var clora = (CLoraConfig)point.CLora.Config;
        var sade = (CLoraConfig)point.CLoraSadeMatch.Config;
        foreach (var (method, label) in new[]
        {
            ("lora", $"LoRA r = {point.LoraRank}"),
            ("lily", $"Lily r = {((LilyConfig)point.Lily.Config).R} (test-set mean mixture)"),
            ("clora", $"CLoRA r = {clora.R}, p = {clora.NumBases}"),
            ("clora-sade", $"CLoRA + SADE r = {sade.R}, p = {sade.NumBases}"),
        })
        {
            var byPath = layers.Where(l => l.Method == method).ToDictionary(l => l.Path, l => l.EffectiveRank, StringComparer.Ordinal);
            if (byPath.Count == 0) continue;
            double[] xs = Enumerable.Range(0, paths.Length).Select(i => (double)i).ToArray();
            var line = plot.Add.Scatter(xs, paths.Select(p => byPath[p]).ToArray());
            line.LegendText = label;
            line.MarkerSize = 7;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, paths.Length).Select(i => (double)i).ToArray(), paths.Select(Short).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 60;
        plot.Title($"{point.Variant}: effective rank of ΔW by layer at LoRA r = {point.LoraRank}'s budget");
        plot.YLabel("effective rank (Roy & Vetterli)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 1000, 560);
    }

    /// <summary>Lily's mean expert weights over the test set: one row per layer, one column per expert.</summary>
    public static void Routing(IReadOnlyList<LayerAnalysis> lily, SweepPoint point, string path)
    {
        int experts = lily[0].Mixture.Count;
        var data = new double[lily.Count, experts];
        for (int i = 0; i < lily.Count; i++)
            for (int e = 0; e < experts; e++) data[i, e] = lily[i].Mixture[e];
        var plot = new ScottPlot.Plot();
        var map = plot.Add.Heatmap(data);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map);
        // The heatmap draws row 0 at the top, cell centres at integer positions counted from the bottom.
        plot.Axes.Left.SetTicks(Enumerable.Range(0, lily.Count).Select(i => (double)(lily.Count - 1 - i)).ToArray(), lily.Select(l => Short(l.Path)).ToArray());
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, experts).Select(e => (double)e).ToArray(), Enumerable.Range(0, experts).Select(e => $"expert {e}").ToArray());
        plot.Title($"{point.Variant}: Lily r = {((LilyConfig)point.Lily.Config).R} mean expert weights on the test set");
        plot.SavePng(path, 560, Math.Max(480, 22 * lily.Count + 120));
    }

    // blocks.3.attn.q_proj → 3.q_proj
    private static string Short(string path) =>
        path.StartsWith("blocks.", StringComparison.Ordinal) ? path["blocks.".Length..].Replace(".attn.", ".", StringComparison.Ordinal).Replace(".mlp.", ".", StringComparison.Ordinal) : path;
}
