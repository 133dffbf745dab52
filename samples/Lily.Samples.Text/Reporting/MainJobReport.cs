using System.Globalization;
using System.Text;
using Lily.TextClassification.Methods;
using Lily.TextClassification;
using Lily.TextClassification.Training;

namespace Lily.Samples.Text.Reporting;

/// <summary>The main job's outputs: a table per method (mean ± std over seeds), the runs as CSV, and a loss plot.</summary>
public static class MainJobReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The Markdown table: one row per method, in the order run.</summary>
    public static string Markdown(IReadOnlyList<AdaptationMethod> methods, IReadOnlyList<RunResult> runs, long totalParameters, string caption)
    {
        var sb = new StringBuilder();
        sb.AppendLine(caption).AppendLine();
        sb.AppendLine("| method | trainable | of the model | test accuracy | ms / step | s / run | checkpoint (PEFT layout) | compact layout |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var method in methods)
        {
            var mine = runs.Where(r => r.Method == method.Id).ToList();
            if (mine.Count == 0) continue;
            long trainable = mine[0].Trainable;
            sb.AppendLine(Inv, $"| {method.Label} | {trainable:N0} | {100.0 * trainable / totalParameters:F2} % | {Spread.Of(mine.Select(r => r.Accuracy))} | {mine.Average(r => r.StepMilliseconds):F0} | {mine.Average(r => r.Seconds):F0} | {Bytes(mine[0].CheckpointBytes)} | {Bytes(mine[0].CompactCheckpointBytes)} |");
        }
        return sb.ToString();
    }

    /// <summary>Every run, one line each.</summary>
    public static string Csv(IEnumerable<RunResult> runs)
    {
        var sb = new StringBuilder("method,seed,learning_rate,scaling,trainable,accuracy,seconds,step_ms,checkpoint_bytes,compact_checkpoint_bytes,final_loss\n");
        foreach (var r in runs)
            sb.AppendLine(Inv, $"{r.Method},{r.Seed},{r.LearningRate:G6},{r.Scaling:G6},{r.Trainable},{r.Accuracy:F4},{r.Seconds:F1},{r.StepMilliseconds:F1},{r.CheckpointBytes},{r.CompactCheckpointBytes},{(r.Losses.Count > 0 ? r.Losses[^1] : double.NaN):F4}");
        return sb.ToString();
    }

    /// <summary>Training loss per step (a moving average over 10 steps), first seed of each method.</summary>
    public static void SaveLossPlot(IReadOnlyList<AdaptationMethod> methods, IReadOnlyList<RunResult> runs, string title, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var method in methods)
        {
            var run = runs.FirstOrDefault(r => r.Method == method.Id);
            if (run is null || run.Losses.Count == 0) continue;
            double[] ys = Smooth(run.Losses, 10);
            var line = plot.Add.Scatter(Enumerable.Range(1, ys.Length).Select(i => (double)i).ToArray(), ys);
            line.LegendText = $"{method.Label} ({100 * runs.Where(r => r.Method == method.Id).Average(r => r.Accuracy):F1} %)";
            line.MarkerSize = 0;
            line.LineWidth = 2;
        }
        int steps = runs.Max(r => r.Losses.Count);
        if (steps > 1) plot.Axes.SetLimitsX(1, steps);
        plot.Title(title);
        plot.XLabel("training step");
        plot.YLabel("training loss (moving average of 10 steps)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 900, 560);
    }

    /// <summary>A byte count as KiB or MiB.</summary>
    public static string Bytes(long bytes) => bytes >= 1 << 20
        ? string.Create(Inv, $"{bytes / 1048576.0:F1} MiB")
        : string.Create(Inv, $"{bytes / 1024.0:F0} KiB");

    private static double[] Smooth(IReadOnlyList<double> values, int window) =>
        values.Select((_, i) =>
        {
            int from = Math.Max(0, i - window + 1);
            return values.Skip(from).Take(i - from + 1).Average();
        }).ToArray();
}
