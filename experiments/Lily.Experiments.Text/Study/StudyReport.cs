using System.Globalization;
using System.Text;
using Lily.TextClassification.Methods;
using Lily.TextClassification;

namespace Lily.Experiments.Text;

/// <summary>
/// The study's report: <c>study.md</c> (per backbone and task, each method's chosen setting, validation and test
/// accuracy, effective rank; then every tuning trial) and <c>study-&lt;backbone&gt;-&lt;task&gt;-pareto.png</c>
/// (test accuracy against trainable parameters).
/// </summary>
public static class StudyReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes the report for the runs so far.</summary>
    public static void Write(IReadOnlyCollection<StudyRun> runs, StudyOptions options, string folder, string command, TimeSpan wall)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# 1k study: pretrained MiniLM-family encoders, 1,000 training examples per task").AppendLine();
        sb.AppendLine(Inv, $"Command: `{command}`").AppendLine();
        sb.AppendLine(Inv, $"Protocol: {options.Examples:N0} training examples per task drawn stratified from the training documents; tuning with seed {options.Seeds[0]} on {(1 - options.ValidationFraction) * 100:F0} % / {options.ValidationFraction * 100:F0} % of them (split by document); the chosen setting trains on all {options.Examples:N0} with seeds {string.Join(", ", options.Seeds)} and is scored on up to {options.TestExamples:N0} test examples (never seen in training or tuning). {options.Epochs} epoch(s), batch {options.BatchSize}, {options.MaxLength} word pieces, AdamW (no weight decay), linear warm-up 10 % then linear decay; mean pooling, new linear head trained by every method. Budget: LoRA r = {options.LoraRank} (alpha {2 * options.LoraRank}); DoRA, Lily (stride_A 2, 2 experts) and CLoRA ranks matched to it by BudgetMatcher.");
        sb.AppendLine(Inv, $"Grid: adapters lr {List(options.AdapterLearningRates)}; Lily scaling {string.Join(", ", options.Scalings.Select(v => v.ToString("G3", Inv)))}; CLoRA p {string.Join(", ", options.CLoraBases)}; full lr {List(options.FullLearningRates)}; head lr {List(options.HeadLearningRates)}. Runs so far: {runs.Count} ({wall.TotalMinutes:F0} min in this invocation).").AppendLine();

        foreach (var group in runs.GroupBy(r => (r.Backbone, r.Task)))
        {
            sb.AppendLine(Inv, $"## {group.Key.Backbone} · {group.Key.Task}").AppendLine();
            sb.AppendLine("| targets | method | trainable | chosen setting | validation | test (mean ± std) | seeds | effective rank of ΔW |");
            sb.AppendLine("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |");
            foreach (var cell in Cells(group))
                sb.AppendLine(Inv, $"| {cell.Targets} | {Label(cell.Method)} | {cell.Trainable:N0} | {cell.Setting} | {cell.Validation} | {cell.Test} | {cell.Seeds} | {cell.Rank} |");
            sb.AppendLine();
            SavePareto(group.Key.Backbone, group.Key.Task, Cells(group).ToList(), Path.Combine(folder, $"study-{group.Key.Backbone}-{group.Key.Task}-pareto.png"));
        }

        sb.AppendLine("## Every tuning trial (validation accuracy)").AppendLine();
        sb.AppendLine("| backbone | task | targets | method | lr | scaling | p | rank | trainable | validation |");
        sb.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in runs.Where(r => r.Phase == "tune"))
            sb.AppendLine(Inv, $"| {r.Backbone} | {r.Task} | {r.Targets} | {Label(r.Method)} | {Rate(r.LearningRate)} | {r.Scaling:G3} | {(r.Bases > 0 ? r.Bases.ToString(Inv) : "")} | {(r.Rank > 0 ? r.Rank.ToString(Inv) : "")} | {r.Trainable:N0} | {100 * r.Accuracy:F2} |");
        File.WriteAllText(Path.Combine(folder, "study.md"), sb.ToString());
    }

    /// <summary>One table row: a method's chosen setting and its scores.</summary>
    public sealed record Cell(string Targets, string Method, long Trainable, string Setting, string Validation, string Test, int Seeds, string Rank, double TestMean);

    /// <summary>The rows of one backbone and task: references first, then each target set's methods.</summary>
    public static IEnumerable<Cell> Cells(IEnumerable<StudyRun> runs)
    {
        var list = runs.ToList();
        foreach (var key in list.Select(r => (r.Targets, r.Method)).Distinct()
                     .OrderBy(k => k.Targets == "-" ? 0 : 1).ThenBy(k => k.Targets, StringComparer.Ordinal)
                     .ThenBy(k => Order(k.Method)))
        {
            var tune = list.Where(r => r.Targets == key.Targets && r.Method == key.Method && r.Phase == "tune").ToList();
            var test = list.Where(r => r.Targets == key.Targets && r.Method == key.Method && r.Phase == "test").ToList();
            var best = tune.Count == 0 ? null : tune.Aggregate((a, c) => c.Accuracy > a.Accuracy ? c : a);
            var shown = test.FirstOrDefault() ?? best;
            if (shown is null) continue;
            string setting = "lr " + Rate(shown.LearningRate) + (shown.Method == "lily" ? string.Create(Inv, $", scaling {shown.Scaling:G3}") : "")
                + (shown.Bases > 0 ? string.Create(Inv, $", p {shown.Bases}") : "") + (shown.Rank > 0 ? string.Create(Inv, $", r {shown.Rank}") : "");
            var rank = test.Where(r => !double.IsNaN(r.EffectiveRank)).Select(r => r.EffectiveRank).ToList();
            yield return new Cell(key.Targets, key.Method, shown.Trainable, test.Count == 0 ? setting + " (tuning)" : setting,
                best is null ? "" : string.Create(Inv, $"{100 * best.Accuracy:F2} %"),
                test.Count == 0 ? "not run yet" : Spread.Of(test.Select(r => r.Accuracy)).ToString(), test.Count,
                rank.Count == 0 ? "" : string.Create(Inv, $"{rank[0]:F2}"), test.Count == 0 ? double.NaN : test.Average(r => r.Accuracy));
        }
    }

    private static void SavePareto(string backbone, string task, IReadOnlyList<Cell> cells, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var cell in cells.Where(c => !double.IsNaN(c.TestMean)))
        {
            var point = plot.Add.Scatter(new[] { Math.Log10(cell.Trainable) }, new[] { 100 * cell.TestMean });
            point.LegendText = cell.Targets == "-" ? Label(cell.Method) : $"{Label(cell.Method)} ({cell.Targets})";
            point.MarkerSize = 10;
        }
        plot.Title($"{backbone} · {task}, 1,000 training examples: test accuracy against trainable parameters");
        plot.XLabel("trainable parameters (log10)");
        plot.YLabel("test accuracy (%), mean over seeds");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.SavePng(path, 900, 560);
    }

    private static string Label(string method) => new AdaptationMethod(method, null, 0).Label;

    private static int Order(string method) => AdaptationMethod.AllIds.ToList().IndexOf(method) is var i and >= 0 ? i : 99;

    private static string List(IEnumerable<double> values) => string.Join(", ", values.Select(Rate));

    // Learning rates as written on the command line (2e-3, 3e-5), never 3E-05.
    private static string Rate(double value) => value.ToString("0.###e0", Inv);
}
