using System.Diagnostics;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

using Lily.FashionMnist;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// The budget sweep: LoRA at each rank, and DoRA, Lily and CLoRA (with and without SADE) at the matched
/// budget, every seed, on the sample's transfer task, for each variant; then the tables and plots of
/// <see cref="SweepReport"/>. One pretrained ViT per depth is shared by every run of that depth.
/// </summary>
public sealed class Sweep(FashionMnistOptions options, SweepOptions sweep, IAnsiConsole console)
{
    /// <summary>Runs every point and writes the outputs; returns the runs.</summary>
    public IReadOnlyList<SweepRun> Run(string command)
    {
        var wall = Stopwatch.StartNew();
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = torch.device(options.Device);
        Directory.CreateDirectory(options.OutputFolder);
        var experiment = new FineTuning(options, console);

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        console.MarkupLine($"Sweep: variants {string.Join(", ", sweep.Variants)}; methods {string.Join(", ", sweep.Methods)}; LoRA ranks {string.Join(", ", sweep.LoraRanks)}; Lily stride_A {sweep.StrideA}, {options.LilyExperts} experts; CLoRA {sweep.CLoraBases} bases, SADE weight {sweep.SadeWeight}; seeds {string.Join(", ", options.Seeds)}; {adaptTrain.Count:N0} train / {adaptTest.Count:N0} test images, {options.FineTuneEpochs} epochs; {torch.get_num_threads()} threads.");
        var pretrainedByDepth = new Dictionary<int, Dictionary<string, Tensor>>();

        var runs = new List<SweepRun>();
        var layers = new List<LayerAnalysis>();
        var points = new List<SweepPoint>();
        foreach (var variant in sweep.Variants)
        {
            int depth = SweepPlan.DepthOf(variant);
            if (!pretrainedByDepth.TryGetValue(depth, out var pretrained))
                pretrainedByDepth[depth] = pretrained = experiment.Pretrain(preTrain, preTest, device, depth);
            var plan = SweepPlan.For(variant, sweep.LoraRanks, sweep.StrideA, options.LilyExperts, sweep.CLoraBases, sweep.SadeWeight);
            points.AddRange(plan);
            foreach (var point in plan)
            {
                var lily = (LilyConfig)point.Lily.Config;
                var clora = (CLoraConfig)point.CLora.Config;
                var dora = (LoraConfig)point.Dora.Config;
                console.MarkupLine($"[bold]{variant}[/] ({depth} blocks) LoRA r = {point.LoraRank} ({point.Lily.Budget:N0} trainable) vs DoRA r = {dora.R} ({point.Dora.Trainable:N0}, {point.Dora.RelativeGap:+0.0%;-0.0%}) vs Lily r = {lily.R} ({point.Lily.Trainable:N0}, {point.Lily.RelativeGap:+0.0%;-0.0%}) vs CLoRA r = {clora.R}, p = {clora.NumBases} ({point.CLora.Trainable:N0}, {point.CLora.RelativeGap:+0.0%;-0.0%})");
                foreach (int seed in options.Seeds)
                {
                    bool analyse = point.LoraRank == sweep.AnalysisRank && seed == options.Seeds[0];
                    foreach (var (method, config, _) in point.Methods().Where(m => sweep.Methods.Contains(m.Method)))
                    {
                        Action<PeftModel<VisionTransformer>, FashionMnistDataset>? inspect = (peft, test) =>
                        {
                            // DoRA's ΔW is not low-rank factors: it stays out of the effective-rank analysis.
                            if (analyse && UpdateAnalysis.CanAnalyse(peft)) layers.AddRange(UpdateAnalysis.Of(peft, test, variant, method));
                            if (peft.AdaptedModules.All(a => a.Layer is CLoraLinear)) console.MarkupLine($"  SADE after training (unweighted, summed over layers): {TotalSade(peft):G4}");
                        };
                        var result = experiment.FineTune(method, seed, config, pretrained, adaptTrain, adaptTest, device, inspect, saveFiles: false, depth: depth);
                        var run = new SweepRun(variant, method, point.LoraRank, result.Rank, seed, result.TrainableParameters, result.TestAccuracy, result.Seconds);
                        console.MarkupLine($"  seed {seed} {method,-10} r = {run.Rank,-3} {run.Trainable,8:N0} trainable: test accuracy {run.TestAccuracy:P2} ({run.Seconds:F1} s)");
                        runs.Add(run);
                    }
                }
            }
        }
        string notes = $"Data: {adaptTrain.Count:N0} training / {adaptTest.Count:N0} test images per split; {options.FineTuneEpochs} fine-tuning epochs; {torch.get_num_threads()} torch thread(s); wall time {wall.Elapsed.TotalSeconds:F0} s for {runs.Count} runs and {pretrainedByDepth.Count} pretraining(s).";
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
        foreach (var t in pretrainedByDepth.Values.SelectMany(p => p.Values)) t.Dispose();

        SweepReport.Write(runs, layers, points, sweep.AnalysisRank, options.OutputFolder, command, notes);
        console.MarkupLine(Markup.Escape(notes));
        console.MarkupLine($"Wrote sweep.csv, sweep-layers.csv, sweep.md and the plots to [blue]{Markup.Escape(options.OutputFolder)}[/].");
        return runs;
    }

    // CLoRA's SADE of the trained adapter without its weight: the scale a SADE weight acts on.
    private static double TotalSade(PeftModel<VisionTransformer> peft)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return peft.AdaptedModules.Select(a => (CLoraLinear)a.Layer).Sum(l => CLoraSade.Of(l.D, l.U, l.Q).item<float>());
    }
}
