using System.Globalization;
using System.Text;

using Lily.FashionMnist;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// Writes the sweep's outputs: <c>sweep.csv</c> (every run), <c>sweep-layers.csv</c> (per-layer
/// analysis), <c>sweep.md</c> (one row per budget) and per variant <c>&lt;variant&gt;-pareto.png</c>,
/// <c>&lt;variant&gt;-effective-rank.png</c> and <c>&lt;variant&gt;-routing.png</c>.
/// </summary>
public static class SweepReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Mean and sample standard deviation of test accuracy of one method at one budget.</summary>
    public sealed record Cell(int Rank, long Trainable, double Mean, double Std, int Runs);

    /// <summary>The files written for <paramref name="variant"/>.</summary>
    public static IReadOnlyList<string> PlotFiles(string variant) =>
        [$"{variant}-pareto.png", $"{variant}-effective-rank.png", $"{variant}-routing.png"];

    /// <summary>
    /// Writes every output into <paramref name="folder"/>; <paramref name="notes"/> (data size, wall time)
    /// goes under the <paramref name="command"/> in <c>sweep.md</c> when given.
    /// </summary>
    public static void Write(IReadOnlyList<SweepRun> runs, IReadOnlyList<LayerAnalysis> layers, IReadOnlyList<SweepPoint> points, int analysisRank, string folder, string command, string? notes = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "sweep.csv"), Csv(runs));
        File.WriteAllText(Path.Combine(folder, "sweep-layers.csv"), LayersCsv(layers));
        File.WriteAllText(Path.Combine(folder, "sweep.md"), Markdown(runs, points, command, notes));
        foreach (var variant in runs.Select(r => r.Variant).Distinct())
        {
            var files = PlotFiles(variant);
            SweepPlots.Pareto(runs.Where(r => r.Variant == variant).ToList(), variant, Path.Combine(folder, files[0]));
            var analysed = layers.Where(l => l.Variant == variant).ToList();
            if (analysed.Count == 0) continue;
            var point = points.First(p => p.Variant == variant && p.LoraRank == analysisRank);
            SweepPlots.EffectiveRank(analysed, point, Path.Combine(folder, files[1]));
            var lily = analysed.Where(l => l.Method == "lily").ToList();
            if (lily.Count > 0) SweepPlots.Routing(lily, point, Path.Combine(folder, files[2]));
        }
    }

    /// <summary>Accuracy statistics of <paramref name="method"/> at the budget set by LoRA rank <paramref name="loraRank"/>.</summary>
    public static Cell Summarise(IEnumerable<SweepRun> runs, string variant, string method, int loraRank)
    {
        var group = runs.Where(r => r.Variant == variant && r.Method == method && r.LoraRank == loraRank).ToList();
        var acc = MeanStd.Of(group.Select(r => r.TestAccuracy));
        return new Cell(group[0].Rank, group[0].Trainable, acc.Mean, acc.Std, acc.Count);
    }

    /// <summary>Every run, one line each.</summary>
    public static string Csv(IEnumerable<SweepRun> runs)
    {
        var sb = new StringBuilder("variant,method,lora_rank,rank,seed,trainable_parameters,test_accuracy,seconds\n");
        foreach (var r in runs)
            sb.AppendLine(Inv, $"{r.Variant},{r.Method},{r.LoraRank},{r.Rank},{r.Seed},{r.Trainable},{r.TestAccuracy:F4},{r.Seconds:F2}");
        return sb.ToString();
    }

    /// <summary>The per-layer analysis, one line per layer and method.</summary>
    public static string LayersCsv(IEnumerable<LayerAnalysis> layers)
    {
        var sb = new StringBuilder("variant,method,layer,effective_rank,mixture\n");
        foreach (var l in layers)
            sb.AppendLine(Inv, $"{l.Variant},{l.Method},{l.Path},{l.EffectiveRank:F4},{string.Join(';', l.Mixture.Select(m => m.ToString("F4", Inv)))}");
        return sb.ToString();
    }

    /// <summary>
    /// One row per variant, budget and method: accuracy, the matched count and its gap to LoRA's, and
    /// the lead over LoRA in points with the two methods' standard deviations combined (√(s₁² + s₂²)),
    /// as a scale for seed noise (only with at least two runs of each).
    /// </summary>
    public static string Markdown(IReadOnlyList<SweepRun> runs, IReadOnlyList<SweepPoint> points, string command, string? notes = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Command: `{command}`");
        if (notes is not null) sb.AppendLine().AppendLine(notes);
        sb.AppendLine();
        sb.AppendLine("| variant | blocks | LoRA r (budget) | method | r | trainable (gap) | test acc. | − LoRA (noise scale) | runs |");
        sb.AppendLine("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in points)
        {
            if (!runs.Any(r => r.Variant == p.Variant && r.LoraRank == p.LoraRank)) continue;
            var lora = Summarise(runs, p.Variant, "lora", p.LoraRank);
            foreach (var (method, _, match) in p.Methods())
            {
                if (!runs.Any(r => r.Variant == p.Variant && r.LoraRank == p.LoraRank && r.Method == method)) continue;
                var cell = Summarise(runs, p.Variant, method, p.LoraRank);
                string gap = match is null ? "" : $" ({match.RelativeGap:+0.0%;-0.0%})";
                string noise = cell.Runs > 1 && lora.Runs > 1 ? $" (±{100 * Math.Sqrt(cell.Std * cell.Std + lora.Std * lora.Std):F2})" : "";
                string lead = method == "lora" ? "" : $"{100 * (cell.Mean - lora.Mean):+0.00;-0.00} pp{noise}";
                sb.AppendLine(Inv,
                    $"| {p.Variant} | {SweepPlan.DepthOf(p.Variant)} | {p.LoraRank} | {Label(method)} | {cell.Rank} | {cell.Trainable:N0}{gap} | {Pct(cell)} | {lead} | {cell.Runs} |");
            }
        }
        return sb.ToString();
    }

    /// <summary>How a method is named in tables and plots.</summary>
    public static string Label(string method) => method switch
    {
        "lora" => "LoRA",
        "dora" => "DoRA",
        "lily" => "Lily",
        "clora" => "CLoRA",
        "clora-sade" => "CLoRA + SADE",
        _ => method,
    };

    private static string Pct(Cell c) => c.Runs > 1 ? $"{100 * c.Mean:F2} ± {100 * c.Std:F2} %" : $"{100 * c.Mean:F2} %";
}
