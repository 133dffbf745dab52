using System.Diagnostics;
using Lily.Bert.Modeling;
using Lily.TextClassification.Methods;
using Lily.TextClassification.Training;
using Lily.TextClassification;
using Lily.Tuners;
using Spectre.Console;
using TorchSharp;

namespace Lily.Experiments.Text;

/// <summary>
/// The paper-style comparison (<c>--study</c>): per backbone, task and target set, LoRA, DoRA, Lily and CLoRA at
/// LoRA's budget, head-only and full fine-tuning as references; each tuned on a validation split of the 1,000
/// training examples (<see cref="StudyOptions"/>), then tested once per seed. Resumable: finished runs are read back
/// from <c>study-runs.csv</c> and not repeated; the report is rewritten after every run.
/// </summary>
public sealed class OneKStudy(StudyOptions options, string outputFolder, IAnsiConsole console)
{
    /// <summary>Writes the report from the runs recorded so far, running nothing.</summary>
    public void Report(string command)
    {
        var log = new StudyLog(Path.Combine(outputFolder, "study-runs.csv"));
        // The report names the command that runs (and resumes) the study, not this one.
        StudyReport.Write(log.Runs, options, outputFolder, command.Replace(" --report-only", "", StringComparison.Ordinal), TimeSpan.Zero);
        console.MarkupLine($"Report of {log.Runs.Count} run(s) written to [blue]{Markup.Escape(Path.Combine(outputFolder, "study.md"))}[/].");
    }

    /// <summary>Runs (or resumes) the study and writes its report.</summary>
    public IReadOnlyCollection<StudyRun> Run(string command)
    {
        Directory.CreateDirectory(outputFolder);
        var log = new StudyLog(Path.Combine(outputFolder, "study-runs.csv"));
        var wall = Stopwatch.StartNew();
        int already = log.Runs.Count;
        console.MarkupLine($"1k study: {already} run(s) already in {Markup.Escape(outputFolder)}; {torch.get_num_threads()} torch thread(s).");
        for (int b = 0; b < options.Backbones.Count; b++)
        {
            var backbone = Backbone.Prepare(options.Backbones[b]);
            var tasks = (b == 0 ? options.Tasks : options.SecondBackboneTasks).Where(t => options.OnlyTasks?.Contains(t) ?? true).ToList();
            if (tasks.Count == 0) continue;
            var targetSets = b == 0 ? options.Targets : options.SecondBackboneTargets;
            var data = new Dictionary<string, StudyTaskData>(StringComparer.Ordinal);
            try
            {
                // Target sets outermost, so a study stopped early has every task at the first target set.
                for (int t = 0; t < targetSets.Count; t++)
                foreach (var taskName in tasks)
                {
                    if (!data.TryGetValue(taskName, out var task))
                    {
                        data[taskName] = task = new StudyTaskData(TaskCatalog.Load(taskName), backbone.Encoder, options);
                        console.MarkupLine($"[bold]{backbone.Name} · {task.Name}[/]: {task.TuneTrain.Count} train / {task.Validation.Count} validation for tuning, {task.Train.Count} train / {task.Test.Count} test (majority class {task.MajorityRate:P1}).");
                    }
                    var tuner = new FineTuner<BertForSequenceClassification>(() => backbone.CreateClassifier(task.Labels));
                    // The first test seed also measures the effective rank of ΔW (an extra pass for Lily's routing).
                    var measuring = new FineTuner<BertForSequenceClassification>(() => backbone.CreateClassifier(task.Labels))
                    {
                        MeasureAdapter = (peft, evaluation) => UpdateRank.Mean(peft, evaluation),
                    };
                    using var shapes = backbone.CreateClassifier(task.Labels);
                    var methods = MethodCatalog.For(shapes, options.Methods, targetSets[t], options.LoraRank);
                    if (t == 0 && options.References)
                        methods = [.. methods, .. MethodCatalog.For(shapes, ["head", "full"], targetSets[t], options.LoraRank)];
                    foreach (var method in methods)
                        TuneAndTest(log, (tuner, measuring), task, backbone.Name, method.Config is null ? "-" : targetSets[t], method, shapes);
                    StudyReport.Write(log.Runs, options, outputFolder, command, wall.Elapsed);
                }
            }
            finally
            {
                foreach (var task in data.Values) task.Dispose();
            }
        }
        StudyReport.Write(log.Runs, options, outputFolder, command, wall.Elapsed);
        console.MarkupLine($"Study done: {log.Runs.Count - already} new run(s) in {wall.Elapsed.TotalMinutes:F0} min; report in [blue]{Markup.Escape(Path.Combine(outputFolder, "study.md"))}[/].");
        return log.Runs;
    }

    private void TuneAndTest(StudyLog log, (FineTuner<BertForSequenceClassification> Plain, FineTuner<BertForSequenceClassification> Measuring) tuners,
        StudyTaskData data, string backbone, string targets, AdaptationMethod method, BertForSequenceClassification shapes)
    {
        var trials = new List<(StudyRun Run, AdaptationMethod Method)>();
        foreach (var (candidate, learningRate) in Grid(method, targets, shapes))
        {
            var run = Once(log, tuners.Plain, data, backbone, targets, candidate, "tune", learningRate, options.Seeds[0], data.TuneTrain, data.Validation);
            trials.Add((run, candidate));
        }
        // The best validation accuracy; a tie keeps the earlier grid point (grids run from small to large).
        var best = trials.Aggregate((a, c) => c.Run.Accuracy > a.Run.Accuracy ? c : a);
        foreach (int seed in options.Seeds)
            Once(log, seed == options.Seeds[0] ? tuners.Measuring : tuners.Plain, data, backbone, targets, best.Method, "test", best.Run.LearningRate, seed, data.Train, data.Test);
    }

    // Every setting tried for a method: CLoRA's p (rank matched again for each), Lily's scaling, the learning rate.
    private IEnumerable<(AdaptationMethod Method, double LearningRate)> Grid(AdaptationMethod method, string targets, BertForSequenceClassification shapes)
    {
        var rates = method.Id switch
        {
            "head" => options.HeadLearningRates,
            "full" => options.FullLearningRates,
            _ => options.AdapterLearningRates,
        };
        IEnumerable<AdaptationMethod> shapesTried = method.Id == "clora"
            ? options.CLoraBases.Select(p => MethodCatalog.For(shapes, ["clora"], targets, options.LoraRank, cloraBases: p).Single())
            : [method];
        IEnumerable<AdaptationMethod> scaled = method.Id is "lily"
            ? shapesTried.SelectMany(m => options.Scalings.Select(m.WithScaling))
            : shapesTried;
        return scaled.SelectMany(m => rates.Select(lr => (m, lr))).ToList();
    }

    private StudyRun Once(StudyLog log, FineTuner<BertForSequenceClassification> tuner, StudyTaskData data, string backbone, string targets,
        AdaptationMethod method, string phase, double learningRate, int seed, EncodedExamples train, EncodedExamples evaluate)
    {
        int bases = method.Config is CLoraConfig c ? c.NumBases : 0;
        int rank = method.Config switch { LoraConfig l => l.R, LilyConfig l => l.R, CLoraConfig l => l.R, _ => 0 };
        var planned = new StudyRun(backbone, data.Name, targets, method.Id, phase, learningRate, FineTuner<BertForSequenceClassification>.ScalingOf(method),
            bases, seed, method.Trainable, rank, double.NaN, 0, double.NaN);
        if (log.Find(planned.Key) is { } done) return done;

        var result = tuner.Run(method, new RunSettings(options.Epochs, options.BatchSize, learningRate, seed), train, evaluate);
        var run = planned with
        {
            Trainable = result.Trainable,
            Accuracy = result.Accuracy,
            Seconds = result.Seconds,
            EffectiveRank = phase == "test" && seed == options.Seeds[0] ? result.EffectiveRank : double.NaN,
        };
        log.Add(run);
        console.MarkupLine($"  {phase,-4} {backbone}/{data.Name}/{targets} {method.Label,-16} lr {learningRate:G3} scaling {run.Scaling:G3}{(bases > 0 ? $" p {bases}" : "")} seed {seed}: {run.Accuracy:P2} ({run.Seconds:F0} s, {result.StepMilliseconds:F0} ms/step)");
        return run;
    }
}
