using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Lily.Samples.FashionMnist;

/// <summary>
/// The budget sweep: LoRA at each rank and Lily at the matched budget, every seed, on the sample's
/// transfer task, for each variant; then the tables and plots of <see cref="SweepReport"/>. The
/// pretrained ViT is shared by every run.
/// </summary>
public sealed class Sweep(SampleOptions options, SweepOptions sweep, IAnsiConsole console)
{
    /// <summary>Runs every point and writes the outputs; returns the runs.</summary>
    public IReadOnlyList<SweepRun> Run(string command)
    {
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = torch.device(options.Device);
        Directory.CreateDirectory(options.OutputFolder);
        var experiment = new Experiment(options, console);

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, Experiment.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, Experiment.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        console.MarkupLine($"Sweep: variants {string.Join(", ", sweep.Variants)}; LoRA ranks {string.Join(", ", sweep.LoraRanks)}; Lily stride_A {sweep.StrideA}, {options.LilyExperts} experts; seeds {string.Join(", ", options.Seeds)}; {adaptTrain.Count:N0} train / {adaptTest.Count:N0} test images, {options.FineTuneEpochs} epochs; {torch.get_num_threads()} threads.");
        var pretrained = experiment.Pretrain(preTrain, preTest, device);

        var runs = new List<SweepRun>();
        var layers = new List<LayerAnalysis>();
        var points = new List<SweepPoint>();
        foreach (var variant in sweep.Variants)
        {
            var plan = SweepPlan.For(variant, sweep.LoraRanks, sweep.StrideA, options.LilyExperts);
            points.AddRange(plan);
            foreach (var point in plan)
            {
                var lily = (LilyConfig)point.Lily.Config;
                console.MarkupLine($"[bold]{variant}[/] LoRA r = {point.LoraRank} ({point.Lily.Budget:N0} trainable) vs Lily r = {lily.R} ({point.Lily.Trainable:N0}, {point.Lily.RelativeGap:+0.0%;-0.0%})");
                foreach (int seed in options.Seeds)
                {
                    bool analyse = point.LoraRank == sweep.AnalysisRank && seed == options.Seeds[0];
                    foreach (var (method, config) in new (string, PeftConfig)[] { ("lora", point.Lora), ("lily", lily) })
                    {
                        Action<PeftModel<VisionTransformer>, FashionMnistDataset>? inspect = analyse
                            ? (peft, test) => layers.AddRange(UpdateAnalysis.Of(peft, test, variant, method))
                            : null;
                        var result = experiment.FineTune(method, seed, config, pretrained, adaptTrain, adaptTest, device, inspect, saveFiles: false);
                        var run = new SweepRun(variant, method, point.LoraRank, result.Rank, seed, result.TrainableParameters, result.TestAccuracy, result.Seconds);
                        console.MarkupLine($"  seed {seed} {method,-4} r = {run.Rank,-3} {run.Trainable,8:N0} trainable: test accuracy {run.TestAccuracy:P2} ({run.Seconds:F1} s)");
                        runs.Add(run);
                    }
                }
            }
        }
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
        foreach (var t in pretrained.Values) t.Dispose();

        SweepReport.Write(runs, layers, points, sweep.AnalysisRank, options.OutputFolder, command);
        console.MarkupLine($"Wrote sweep.csv, sweep-layers.csv, sweep.md and the plots to [blue]{Markup.Escape(options.OutputFolder)}[/].");
        return runs;
    }
}
