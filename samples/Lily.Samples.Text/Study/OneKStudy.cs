using System.Diagnostics;
using Lily.Bert.Modeling;
using Lily.Samples.Text.Methods;
using Lily.Samples.Text.Training;
using Spectre.Console;
using TorchSharp;

namespace Lily.Samples.Text.Study;

/// <summary>
/// The paper-style comparison (<c>--study</c>): per backbone, task and target set, LoRA, DoRA, Lily and CLoRA at
/// LoRA's budget, head-only and full fine-tuning as references; each tuned on a validation split of the 1,000
/// training examples (<see cref="StudyOptions"/>), then tested once per seed. Resumable: finished runs are read back
/// from <c>study-runs.csv</c> and not repeated; the report is rewritten after every run.
/// </summary>
public sealed class OneKStudy(StudyOptions options, string outputFolder, IAnsiConsole console)
{
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
            var tasks = b == 0 ? options.Tasks : options.SecondBackboneTasks;
            var targetSets = b == 0 ? options.Targets : options.SecondBackboneTargets;
            foreach (var taskName in tasks)
            {
                using var data = new StudyTaskData(TaskCatalog.Load(taskName), backbone.Encoder, options);
                console.MarkupLine($"[bold]{backbone.Name} · {data.Name}[/]: {data.TuneTrain.Count} train / {data.Validation.Count} validation for tuning, {data.Train.Count} train / {data.Test.Count} test (majority class {data.MajorityRate:P1}).");
                var tuner = new FineTuner<BertForSequenceClassification>(() => backbone.CreateClassifier(data.Labels));
                // The first test seed also measures the effective rank of ΔW (an extra pass for Lily's routing).
                var measuring = new FineTuner<BertForSequenceClassification>(() => backbone.CreateClassifier(data.Labels))
                {
                    MeasureAdapter = (peft, evaluation) => UpdateRank.Mean(peft, evaluation),
                };
                using var shapes = backbone.CreateClassifier(data.Labels);
                if (options.References)
                {
                    var references = MethodCatalog.For(shapes, ["head", "full"], TargetSet.QueryValue, options.LoraRank);
                    foreach (var method in references)
                        TuneAndTest(log, (tuner, measuring), data, backbone.Name, "-", method, shapes);
                }
                foreach (var targets in targetSets)
                foreach (var id in options.Methods)
                {
                    var method = MethodCatalog.For(shapes, [id], targets, options.LoraRank).Single();
                    TuneAndTest(log, (tuner, measuring), data, backbone.Name, targets, method, shapes);
                }
                StudyReport.Write(log.Runs, options, outputFolder, command, wall.Elapsed);
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

    // Every setting tried for a method: CLoRA's p (rank matched again for each), Lily's and CLoRA's scaling, the learning rate.
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
        IEnumerable<AdaptationMethod> scaled = method.Id is "lily" or "clora"
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
