using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Lily.FashionMnist;

/// <summary>Turns the runs into a terminal table, <c>results.csv</c>, <c>results.md</c> and <c>learning-curves.png</c>.</summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One method summarised over its seeds.</summary>
    public sealed record Summary(string Method, int Rank, long Trainable, long Adapter, double MeanAccuracy, double StdAccuracy, double MeanSeconds, long FileBytes, long CompactFileBytes, int Runs);

    /// <summary>Mean and sample standard deviation of accuracy and time, per method, in the order the methods ran.</summary>
    public static List<Summary> Summarise(IReadOnlyList<MethodResult> results) =>
        results.GroupBy(r => r.Method).Select(g =>
        {
            var acc = MeanStd.Of(g.Select(r => r.TestAccuracy));
            var first = g.First();
            return new Summary(g.Key, first.Rank, first.TrainableParameters, first.AdapterParameters, acc.Mean, acc.Std, g.Average(r => r.Seconds), first.FileBytes, first.CompactFileBytes, acc.Count);
        }).ToList();

    /// <summary>Prints the summary table and writes every output file into <paramref name="folder"/>.</summary>
    public static void Write(IReadOnlyList<MethodResult> results, string folder, string command, IAnsiConsole console)
    {
        var summary = Summarise(results);
        var table = new Table().Title("Fine-tuning on classes 5–9").AddColumns("method", "r", "trainable", "adapter", "test accuracy", "seconds", "file bytes", "compact bytes", "runs");
        foreach (var s in summary)
        {
            table.AddRow(s.Method, s.Rank == 0 ? "–" : s.Rank.ToString(Inv), s.Trainable.ToString("N0", Inv), s.Adapter == 0 ? "–" : s.Adapter.ToString("N0", Inv),
                Accuracy(s), s.MeanSeconds.ToString("F1", Inv), s.FileBytes.ToString("N0", Inv), s.CompactFileBytes.ToString("N0", Inv), s.Runs.ToString(Inv));
        }
        console.Write(table);

        File.WriteAllText(Path.Combine(folder, "results.csv"), Csv(results));
        File.WriteAllText(Path.Combine(folder, "results.md"), Markdown(summary, command));
        LearningCurvePlot.Save(results, Path.Combine(folder, "learning-curves.png"));
        console.MarkupLine($"Wrote [blue]{Markup.Escape(Path.Combine(folder, "results.csv"))}[/], results.md and learning-curves.png.");
    }

    /// <summary>Every run, one line each.</summary>
    public static string Csv(IEnumerable<MethodResult> results)
    {
        var sb = new StringBuilder("method,seed,rank,trainable_parameters,adapter_parameters,test_accuracy,seconds,file_bytes,compact_file_bytes,accuracy_per_epoch\n");
        foreach (var r in results)
        {
            sb.Append(Inv, $"{r.Method},{r.Seed},{r.Rank},{r.TrainableParameters},{r.AdapterParameters},{r.TestAccuracy:F4},{r.Seconds:F2},{r.FileBytes},{r.CompactFileBytes},")
              .AppendLine(string.Join(';', r.AccuracyPerEpoch.Select(a => a.ToString("F4", Inv))));
        }
        return sb.ToString();
    }

    /// <summary>The summary as a markdown table, with the command that produced it.</summary>
    public static string Markdown(IEnumerable<Summary> summary, string command)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Command: `{command}`");
        sb.AppendLine();
        sb.AppendLine("| method | r | trainable params | adapter params | test accuracy (mean ± std) | seconds | file bytes (PEFT layout) | compact bytes | runs |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in summary)
        {
            sb.AppendLine(Inv, $"| {s.Method} | {(s.Rank == 0 ? "–" : s.Rank)} | {s.Trainable:N0} | {(s.Adapter == 0 ? "–" : s.Adapter.ToString("N0", Inv))} | {Accuracy(s)} | {s.MeanSeconds:F1} | {s.FileBytes:N0} | {s.CompactFileBytes:N0} | {s.Runs} |");
        }
        return sb.ToString();
    }

    private static string Accuracy(Summary s) => new MeanStd(s.MeanAccuracy, s.StdAccuracy, s.Runs).Percent();
}
