using Lily.FashionMnist;
using Lily.Tuners;
using Spectre.Console;
using TorchSharp;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// The comparison without a mode flag: the sample's run (head only, LoRA, Lily at LoRA's budget, full), with
/// the research options: <c>--compare-routing</c> adds Lily with per-sample and per-token routing, <c>--deploy</c>
/// runs LoRA and Lily only and measures Lily deployed as LoRA (frozen routing, exported LoRA, squeezed ranks).
/// </summary>
internal sealed class Comparison(FashionMnistOptions options, bool compareRouting, bool deploy, IAnsiConsole console)
{
    private readonly FineTuning steps = new(options, console);

    /// <summary>With <c>deploy</c>: Lily deployed as LoRA, per seed (filled by <see cref="Run"/>).</summary>
    internal List<DeploymentResult> Deployments { get; } = new();

    /// <summary>Runs everything and returns one result per method and seed.</summary>
    public IReadOnlyList<MethodResult> Run()
    {
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = torch.device(options.Device);
        Directory.CreateDirectory(options.OutputFolder);

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        console.MarkupLine($"Fashion-MNIST from [blue]{Markup.Escape(options.DataFolder)}[/]: pretraining on classes 0–4 ({preTrain.Count:N0} train / {preTest.Count:N0} test), adapting to classes 5–9 ({adaptTrain.Count:N0} / {adaptTest.Count:N0}); device {device}, {torch.get_num_threads()} threads.");

        var pretrained = steps.Pretrain(preTrain, preTest, device);

        var lora = FineTuning.LoraConfigFor(options.LoraRank, FineTuning.Targets);
        var lily = FineTuning.MatchLily(lora, FineTuning.Targets, options.LilyStrideA, options.LilyExperts);
        console.MarkupLine($"Budget (PeftPlan, head included): LoRA r = {options.LoraRank} → {lily.Budget:N0} trainable parameters; Lily r = {((LilyConfig)lily.Config).R} (stride_A {options.LilyStrideA}, {options.LilyExperts} experts) → {lily.Trainable:N0} ({lily.RelativeGap:+0.0%;-0.0%}).");

        // The methods, in the table's order, each with its adapter (null: head only, full fine-tuning).
        var lilyConfig = (LilyConfig)lily.Config;
        var methods = new List<(string Name, PeftConfig? Config)> { ("head", null), ("lora", lora), ("lily", lilyConfig) };
        if (compareRouting)
            methods.AddRange([("lily-per-sample", lilyConfig with { Routing = LilyRouting.PerSample }), ("lily-per-token", lilyConfig with { Routing = LilyRouting.PerToken })]);
        methods.Add(("full", null));
        // --deploy measures Lily deployed as LoRA, beside the LoRA it is matched to.
        if (deploy) methods = [("lora", lora), ("lily", lilyConfig)];
        var deployment = new Deployment(pretrained, device, options.OutputFolder);

        var results = new List<MethodResult>();
        foreach (int seed in options.Seeds)
        {
            foreach (var (method, config) in methods)
            {
                Action<PeftModel<VisionTransformer>, FashionMnistDataset>? measure = deploy && method == "lily"
                    ? (peft, test) => Deployments.Add(deployment.Measure(peft, adaptTrain, test, seed))
                    : null;
                var result = steps.FineTune(method, seed, config, pretrained, adaptTrain, adaptTest, device, measure);
                console.MarkupLine($"  seed {seed} [bold]{method,-16}[/] test accuracy {result.TestAccuracy:P2}, {result.TrainableParameters:N0} trainable, {result.Seconds:F1} s, {result.FileBytes:N0} bytes saved ({result.CompactFileBytes:N0} compact)");
                results.Add(result);
            }
        }
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
        foreach (var t in pretrained.Values) t.Dispose();
        return results;
    }
}
