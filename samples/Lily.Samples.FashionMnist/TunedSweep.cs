using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Lily.Samples.FashionMnist;

/// <summary>
/// The sweep with each method tuned (<c>--tune-lr</c>): per budget, every method's learning rate (and Lily's
/// scaling) is chosen on a validation split held out of the TRAINING images with the first seed only; the
/// chosen setting then trains on the whole training set once per seed and is scored on the test set, which
/// the tuning never sees. Writes <c>tuning.csv</c>, <c>tuning.md</c> and, for the test runs, the sweep's
/// <c>sweep.csv</c> and <c>sweep.md</c>. Each budget is finished (tuned and tested) before the next starts,
/// and the files are rewritten after each, so an interrupted run leaves whole budgets only.
/// </summary>
public sealed class TunedSweep(SampleOptions options, SweepOptions sweep, IAnsiConsole console)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Tunes and tests every budget; returns the test runs.</summary>
    public IReadOnlyList<SweepRun> Run(string command)
    {
        if (sweep.TuneLearningRates.Count == 0) throw new InvalidOperationException("The tuned sweep needs a learning-rate grid (--tune-lr).");
        var wall = Stopwatch.StartNew();
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = torch.device(options.Device);
        Directory.CreateDirectory(options.OutputFolder);
        var experiment = new Experiment(options, console);
        int tuneSeed = options.Seeds[0];

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, Experiment.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, Experiment.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (tuneTrain, validation) = ValidationSplit.Of(adaptTrain, sweep.ValidationFraction, seed: 0);
        console.MarkupLine($"Tuned sweep: learning rates {Grid(sweep.TuneLearningRates)}, Lily/CLoRA scaling {Grid(sweep.TuneScaling)}; tuning seed {tuneSeed} on {tuneTrain.Count:N0} train / {validation.Count:N0} validation images (held out of the {adaptTrain.Count:N0} training images); test seeds {string.Join(", ", options.Seeds)} on all {adaptTrain.Count:N0} training / {adaptTest.Count:N0} test images; {torch.get_num_threads()} threads.");

        var pretrainedByDepth = new Dictionary<int, Dictionary<string, Tensor>>();
        var trials = new List<TuningTrial>();
        var runs = new List<SweepRun>();
        var points = new List<SweepPoint>();
        foreach (var variant in sweep.Variants)
        {
            int depth = SweepPlan.DepthOf(variant);
            if (!pretrainedByDepth.TryGetValue(depth, out var pretrained))
                pretrainedByDepth[depth] = pretrained = experiment.Pretrain(preTrain, preTest, device, depth);
            foreach (var point in SweepPlan.For(variant, sweep.LoraRanks, sweep.StrideA, options.LilyExperts, sweep.CLoraBases, sweep.SadeWeight))
            {
                var methods = point.Methods().Where(m => sweep.Methods.Contains(m.Method)).ToList();
                var chosen = new List<(string Method, PeftConfig Config, TuningTrial Best)>();
                foreach (var (method, config, _) in methods)
                {
                    var grid = new List<TuningTrial>();
                    foreach (double scaling in method is "lily" or "clora" or "clora-sade" ? sweep.TuneScaling : [1.0])
                    foreach (double rate in sweep.TuneLearningRates)
                    {
                        var result = experiment.FineTune(method, tuneSeed, WithScaling(config, scaling), pretrained, tuneTrain, validation, device,
                            saveFiles: false, depth: depth, learningRate: rate);
                        var trial = new TuningTrial(variant, point.LoraRank, method, rate, scaling, tuneSeed, result.TestAccuracy);
                        console.MarkupLine($"  tune r = {point.LoraRank} {method,-10} lr {rate.ToString("G3", Inv)} scaling {scaling.ToString("G3", Inv)}: validation accuracy {trial.ValidationAccuracy:P2} ({result.Seconds:F1} s)");
                        grid.Add(trial);
                    }
                    var best = TuningTrial.Best(grid);
                    trials.AddRange(grid);
                    chosen.Add((method, WithScaling(config, best.Scaling), best));
                    console.MarkupLine($"  [bold]chosen[/] {method}: lr {best.LearningRate.ToString("G3", Inv)}, scaling {best.Scaling.ToString("G3", Inv)} ({best.ValidationAccuracy:P2} on validation)");
                }
                foreach (int seed in options.Seeds)
                foreach (var (method, config, best) in chosen)
                {
                    var result = experiment.FineTune(method, seed, config, pretrained, adaptTrain, adaptTest, device,
                        saveFiles: false, depth: depth, learningRate: best.LearningRate);
                    var run = new SweepRun(variant, method, point.LoraRank, result.Rank, seed, result.TrainableParameters, result.TestAccuracy, result.Seconds);
                    console.MarkupLine($"  test seed {seed} {method,-10} r = {run.Rank,-3} {run.Trainable,8:N0} trainable: test accuracy {run.TestAccuracy:P2} ({run.Seconds:F1} s)");
                    runs.Add(run);
                }
                points.Add(point);
                string notes = $"Tuning: {tuneTrain.Count:N0} training / {validation.Count:N0} validation images (held out of the training images), seed {tuneSeed}; test: {adaptTrain.Count:N0} training / {adaptTest.Count:N0} test images, seeds {string.Join(", ", options.Seeds)}; {options.FineTuneEpochs} fine-tuning epochs; {torch.get_num_threads()} torch thread(s); budgets finished: LoRA r ∈ {{{string.Join(", ", points.Select(p => p.LoraRank))}}}; wall time so far {wall.Elapsed.TotalSeconds:F0} s for {trials.Count} tuning and {runs.Count} test runs and {pretrainedByDepth.Count} pretraining(s).";
                Write(trials, runs, points, command, notes);
                console.MarkupLine(Markup.Escape(notes));
            }
        }
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest, tuneTrain, validation }) d.Dispose();
        foreach (var t in pretrainedByDepth.Values.SelectMany(p => p.Values)) t.Dispose();
        console.MarkupLine($"Wrote tuning.csv, tuning.md, sweep.csv and sweep.md to [blue]{Markup.Escape(options.OutputFolder)}[/].");
        return runs;
    }

    /// <summary><paramref name="config"/> with Lily's or CLoRA's <c>scaling</c> set; other configs as they are (1 only).</summary>
    public static PeftConfig WithScaling(PeftConfig config, double scaling) => config switch
    {
        LilyConfig lily => lily with { Scaling = scaling },
        CLoraConfig clora => clora with { Scaling = scaling },
        _ when scaling == 1.0 => config,
        _ => throw new ArgumentException($"{config.GetType().Name} has no scaling to tune (its scale is alpha / r).", nameof(scaling)),
    };

    /// <summary>
    /// One row per budget and method: the validation accuracy of every grid point, the choice, and the test
    /// accuracy of the choice (mean ± std over the test seeds).
    /// </summary>
    public static string TuningMarkdown(IReadOnlyList<TuningTrial> trials, IReadOnlyList<SweepRun> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| LoRA r (budget) | method | validation accuracy per grid point (lr, scaling) | chosen | test acc. of the choice |");
        sb.AppendLine("| ---: | --- | --- | --- | ---: |");
        foreach (var group in trials.GroupBy(t => (t.Variant, t.LoraRank, t.Method)))
        {
            var best = TuningTrial.Best(group);
            string cells = string.Join("; ", group.Select(t => $"{(t == best ? "**" : "")}{Setting(t)}: {100 * t.ValidationAccuracy:F2}{(t == best ? "**" : "")}"));
            var test = runs.Where(r => r.Variant == group.Key.Variant && r.LoraRank == group.Key.LoraRank && r.Method == group.Key.Method).Select(r => r.TestAccuracy).ToList();
            string testCell = test.Count == 0 ? "not run" : MeanStd.Of(test).Percent();
            sb.AppendLine(Inv, $"| {group.Key.LoraRank} | {SweepReport.Label(group.Key.Method)} | {cells} | {Setting(best)} | {testCell} |");
        }
        return sb.ToString();
    }

    /// <summary>Every tuning trial, one line each.</summary>
    public static string TuningCsv(IEnumerable<TuningTrial> trials)
    {
        var sb = new StringBuilder("variant,lora_rank,method,learning_rate,scaling,seed,validation_accuracy\n");
        foreach (var t in trials)
            sb.AppendLine(Inv, $"{t.Variant},{t.LoraRank},{t.Method},{t.LearningRate:G6},{t.Scaling:G6},{t.Seed},{t.ValidationAccuracy:F4}");
        return sb.ToString();
    }

    private void Write(IReadOnlyList<TuningTrial> trials, IReadOnlyList<SweepRun> runs, IReadOnlyList<SweepPoint> points, string command, string notes)
    {
        File.WriteAllText(Path.Combine(options.OutputFolder, "tuning.csv"), TuningCsv(trials));
        File.WriteAllText(Path.Combine(options.OutputFolder, "tuning.md"), $"Command: `{command}`\n\n{notes}\n\n{TuningMarkdown(trials, runs)}");
        File.WriteAllText(Path.Combine(options.OutputFolder, "sweep.csv"), SweepReport.Csv(runs));
        File.WriteAllText(Path.Combine(options.OutputFolder, "sweep.md"), SweepReport.Markdown(runs, points, command, notes));
    }

    private static string Setting(TuningTrial t) => t.Method is "lily" or "clora" or "clora-sade"
        ? string.Create(Inv, $"{t.LearningRate:G3}, {t.Scaling:G3}")
        : t.LearningRate.ToString("G3", Inv);

    private static string Grid(IEnumerable<double> values) => "{" + string.Join(", ", values.Select(v => v.ToString("G3", Inv))) + "}";
}
