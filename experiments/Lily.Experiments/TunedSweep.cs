using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

using Lily.FashionMnist;
using Lily.Planning;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// The sweep with each method tuned (<c>--tune-lr</c>): per budget, every method's learning rate (and Lily's
/// and CLoRA's scaling, CLoRA's p with <c>--tune-clora-p</c>, the SADE weight with <c>--tune-sade-weight</c>;
/// see <see cref="Grid"/>) is chosen on a validation split held out of the TRAINING images with the first seed
/// only; the chosen setting then trains on the whole training set once per seed and is scored on the test set,
/// which the tuning never sees. Writes <c>tuning.csv</c>, <c>tuning.md</c> and, for the test runs, the sweep's
/// outputs (<see cref="SweepReport.Write"/>: <c>sweep.csv</c>, <c>sweep.md</c>, the Pareto plot and, at the
/// analysis rank, the first test seed's effective rank per layer). Each budget is finished (tuned and tested) before the next starts,
/// and the files are rewritten after each, so an interrupted run leaves whole budgets only.
/// </summary>
public sealed class TunedSweep(FashionMnistOptions options, SweepOptions sweep, IAnsiConsole console)
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
        var experiment = new FineTuning(options, console);
        int tuneSeed = options.Seeds[0];

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (tuneTrain, validation) = ValidationSplit.Of(adaptTrain, sweep.ValidationFraction, seed: 0);
        console.MarkupLine($"Tuned sweep: learning rates {Values(sweep.TuneLearningRates)}, Lily/CLoRA scaling {Values(sweep.TuneScaling)}, CLoRA p {Values(sweep.CLoraBasesGrid)}, SADE weight {Values(sweep.SadeWeightGrid)}; tuning seed {tuneSeed} on {tuneTrain.Count:N0} train / {validation.Count:N0} validation images (held out of the {adaptTrain.Count:N0} training images); test seeds {string.Join(", ", options.Seeds)} on all {adaptTrain.Count:N0} training / {adaptTest.Count:N0} test images; {torch.get_num_threads()} threads.");

        var pretrainedByDepth = new Dictionary<int, Dictionary<string, Tensor>>();
        var trials = new List<TuningTrial>();
        var runs = new List<SweepRun>();
        var points = new List<SweepPoint>();
        var layers = new List<LayerAnalysis>();
        foreach (var variant in sweep.Variants)
        {
            int depth = SweepPlan.DepthOf(variant);
            if (!pretrainedByDepth.TryGetValue(depth, out var pretrained))
                pretrainedByDepth[depth] = pretrained = experiment.Pretrain(preTrain, preTest, device, depth);
            foreach (var point in SweepPlan.For(variant, sweep.LoraRanks, sweep.StrideA, options.LilyExperts, sweep.CLoraBases, sweep.SadeWeight))
            {
                var methods = point.Methods().Where(m => sweep.Methods.Contains(m.Method)).ToList();
                var chosen = new List<(string Method, TuningSetting Setting, TuningTrial Best)>();
                foreach (var (method, _, _) in methods)
                {
                    var settings = Grid(point, method, sweep);
                    var grid = new List<TuningTrial>();
                    foreach (var setting in settings)
                    {
                        var result = experiment.FineTune(method, tuneSeed, WithScaling(setting.Config, setting.Scaling), pretrained, tuneTrain, validation, device,
                            saveFiles: false, depth: depth, learningRate: setting.LearningRate);
                        var trial = new TuningTrial(variant, point.LoraRank, method, setting.LearningRate, setting.Scaling, tuneSeed, result.TestAccuracy, setting.Bases, setting.SadeWeight);
                        console.MarkupLine($"  tune r = {point.LoraRank} {method,-10} {Markup.Escape(Setting(trial))}: validation accuracy {trial.ValidationAccuracy:P2} ({result.Seconds:F1} s)");
                        grid.Add(trial);
                    }
                    var best = TuningTrial.Best(grid);
                    trials.AddRange(grid);
                    chosen.Add((method, settings[grid.IndexOf(best)], best));
                    console.MarkupLine($"  [bold]chosen[/] {method}: {Markup.Escape(Setting(best))} ({best.ValidationAccuracy:P2} on validation)");
                }
                foreach (int seed in options.Seeds)
                foreach (var (method, setting, _) in chosen)
                {
                    bool analyse = point.LoraRank == sweep.AnalysisRank && seed == options.Seeds[0];
                    Action<PeftModel<VisionTransformer>, FashionMnistDataset> inspect = (peft, test) =>
                    {
                        // DoRA's ΔW is not low-rank factors: it stays out of the effective-rank analysis.
                        if (analyse && UpdateAnalysis.CanAnalyse(peft)) layers.AddRange(UpdateAnalysis.Of(peft, test, variant, method));
                    };
                    var result = experiment.FineTune(method, seed, WithScaling(setting.Config, setting.Scaling), pretrained, adaptTrain, adaptTest, device,
                        inspect, saveFiles: false, depth: depth, learningRate: setting.LearningRate);
                    var run = new SweepRun(variant, method, point.LoraRank, result.Rank, seed, result.TrainableParameters, result.TestAccuracy, result.Seconds);
                    console.MarkupLine($"  test seed {seed} {method,-10} r = {run.Rank,-3} {run.Trainable,8:N0} trainable: test accuracy {run.TestAccuracy:P2} ({run.Seconds:F1} s)");
                    runs.Add(run);
                }
                points.Add(Chosen(point, chosen.Select(c => (c.Method, c.Setting)).ToList()));
                string notes = $"Tuning: {tuneTrain.Count:N0} training / {validation.Count:N0} validation images (held out of the training images), seed {tuneSeed}; test: {adaptTrain.Count:N0} training / {adaptTest.Count:N0} test images, seeds {string.Join(", ", options.Seeds)}; {options.FineTuneEpochs} fine-tuning epochs; {torch.get_num_threads()} torch thread(s); budgets finished: LoRA r ∈ {{{string.Join(", ", points.Select(p => p.LoraRank))}}}; wall time so far {wall.Elapsed.TotalSeconds:F0} s for {trials.Count} tuning and {runs.Count} test runs and {pretrainedByDepth.Count} pretraining(s).";
                Write(trials, runs, layers, points, command, notes);
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
        sb.AppendLine("| LoRA r (budget) | method | validation accuracy per grid point (lr; Lily, CLoRA: scaling; CLoRA: p; SADE: w) | chosen | test acc. of the choice |");
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
        var sb = new StringBuilder("variant,lora_rank,method,learning_rate,scaling,bases,sade_weight,seed,validation_accuracy\n");
        foreach (var t in trials)
            sb.AppendLine(Inv, $"{t.Variant},{t.LoraRank},{t.Method},{t.LearningRate:G6},{t.Scaling:G6},{t.Bases},{t.SadeWeight:G6},{t.Seed},{t.ValidationAccuracy:F4}");
        return sb.ToString();
    }

    /// <summary>
    /// The grid of <paramref name="method"/> at <paramref name="point"/>, in the order it is trained (a tie keeps
    /// the earlier point): for CLoRA each p of <see cref="SweepOptions.CLoraBasesGrid"/> (its rank matched to the
    /// budget again for that p) and, for CLoRA + SADE, each weight of <see cref="SweepOptions.SadeWeightGrid"/>;
    /// then, for Lily and CLoRA, each scaling of <see cref="SweepOptions.TuneScaling"/>; then each learning rate.
    /// </summary>
    public static IReadOnlyList<TuningSetting> Grid(SweepPoint point, string method, SweepOptions sweep)
    {
        var configs = new List<(PeftConfig Config, BudgetMatch? Match, int? Bases, double? SadeWeight)>();
        switch (method)
        {
            case "lora": configs.Add((point.Lora, null, null, null)); break;
            case "dora": configs.Add((point.Dora.Config, point.Dora, null, null)); break;
            case "lily": configs.Add((point.Lily.Config, point.Lily, null, null)); break;
            case "clora" or "clora-sade":
                foreach (int p in sweep.CLoraBasesGrid)
                {
                    var match = ((CLoraConfig)point.CLora.Config).NumBases == p
                        ? point.CLora
                        : FineTuning.MatchCLora(point.Lora, SweepPlan.Variants[point.Variant], p, sadeWeight: 0, SweepPlan.DepthOf(point.Variant));
                    var clora = (CLoraConfig)match.Config;
                    if (method == "clora") configs.Add((clora with { SadeWeight = 0 }, match with { Config = clora with { SadeWeight = 0 } }, p, null));
                    else
                        foreach (double w in sweep.SadeWeightGrid)
                            configs.Add((clora with { SadeWeight = w }, match with { Config = clora with { SadeWeight = w } }, p, w));
                }
                break;
            default: throw new ArgumentException($"Unknown sweep method '{method}'.", nameof(method));
        }
        IReadOnlyList<double> scalings = method is "lily" or "clora" or "clora-sade" ? sweep.TuneScaling : [1.0];
        return configs.SelectMany(c => scalings.SelectMany(s => sweep.TuneLearningRates.Select(lr => new TuningSetting(c.Config, c.Match, lr, s, c.Bases, c.SadeWeight)))).ToList();
    }

    /// <summary>
    /// <paramref name="point"/> with CLoRA's and CLoRA + SADE's matches replaced by the chosen ones (their p may
    /// differ from the point's), so the report's ranks and budget gaps are those of the runs.
    /// </summary>
    public static SweepPoint Chosen(SweepPoint point, IReadOnlyList<(string Method, TuningSetting Setting)> chosen)
    {
        BudgetMatch? Of(string method) => chosen.Where(c => c.Method == method).Select(c => c.Setting.Match).FirstOrDefault();
        return point with { CLora = Of("clora") ?? point.CLora, CLoraSade = Of("clora-sade") ?? point.CLoraSade };
    }

    private void Write(IReadOnlyList<TuningTrial> trials, IReadOnlyList<SweepRun> runs, IReadOnlyList<LayerAnalysis> layers, IReadOnlyList<SweepPoint> points, string command, string notes)
    {
        File.WriteAllText(Path.Combine(options.OutputFolder, "tuning.csv"), TuningCsv(trials));
        File.WriteAllText(Path.Combine(options.OutputFolder, "tuning.md"), $"Command: `{command}`\n\n{notes}\n\n{TuningMarkdown(trials, runs)}");
        SweepReport.Write(runs, layers, points, sweep.AnalysisRank, options.OutputFolder, command, notes);
    }

    // lr; Lily and CLoRA add their scaling, CLoRA its p, CLoRA + SADE its weight.
    private static string Setting(TuningTrial t)
    {
        if (t.Method is not ("lily" or "clora" or "clora-sade")) return t.LearningRate.ToString("G3", Inv);
        string s = string.Create(Inv, $"{t.LearningRate:G3}, {t.Scaling:G3}");
        if (t.Bases is int p) s += string.Create(Inv, $", p {p}");
        if (t.SadeWeight is double w) s += string.Create(Inv, $", w {w:G3}");
        return s;
    }

    private static string Values<T>(IEnumerable<T> values) where T : IFormattable => "{" + string.Join(", ", values.Select(v => v.ToString("G3", Inv))) + "}";
}
