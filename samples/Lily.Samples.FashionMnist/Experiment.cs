using System.Diagnostics;
using Lily.Serialization;
using Spectre.Console;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Samples.FashionMnist;

/// <summary>
/// The sample's experiment: pretrain a small ViT on classes 0–4, then adapt it to classes 5–9
/// with the head only, LoRA, Lily (at LoRA's trainable budget) and full fine-tuning.
/// </summary>
public sealed class Experiment(SampleOptions options, IAnsiConsole console)
{
    /// <summary>The Linear layers LoRA and Lily adapt: attention projections and the MLP.</summary>
    public static readonly string[] Targets = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"];

    private static readonly int[] PretrainClasses = [0, 1, 2, 3, 4];
    private static readonly int[] AdaptClasses = [5, 6, 7, 8, 9];

    /// <summary>Runs everything and returns one result per method and seed.</summary>
    public IReadOnlyList<MethodResult> Run()
    {
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        var device = torch.device(options.Device);
        Directory.CreateDirectory(options.OutputFolder);

        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
        console.MarkupLine($"Fashion-MNIST from [blue]{Markup.Escape(options.DataFolder)}[/]: pretraining on classes 0–4 ({preTrain.Count:N0} train / {preTest.Count:N0} test), adapting to classes 5–9 ({adaptTrain.Count:N0} / {adaptTest.Count:N0}); device {device}, {torch.get_num_threads()} threads.");

        var pretrained = Pretrain(preTrain, preTest, device);

        var types = TargetTypes(BuildModel());
        long loraBudget = BudgetMatcher.LoraCount(types, options.LoraRank);
        int lilyRank = BudgetMatcher.LilyRankFor(types, loraBudget, options.LilyStrideA, options.LilyExperts);
        console.MarkupLine($"Budget: LoRA r = {options.LoraRank} → {loraBudget:N0} adapter parameters; Lily r = {lilyRank} (stride_A {options.LilyStrideA}, {options.LilyExperts} experts) → {BudgetMatcher.LilyCount(types, lilyRank, options.LilyStrideA, options.LilyExperts):N0}.");

        var methods = new List<string> { "head", "lora", "lily" };
        if (options.CompareRouting) methods.AddRange(["lily-per-sample", "lily-per-token"]);
        methods.Add("full");

        var results = new List<MethodResult>();
        foreach (int seed in options.Seeds)
        {
            foreach (var method in methods)
            {
                var result = FineTune(method, seed, lilyRank, pretrained, adaptTrain, adaptTest, device);
                console.MarkupLine($"  seed {seed} [bold]{method,-16}[/] test accuracy {result.TestAccuracy:P2}, {result.TrainableParameters:N0} trainable, {result.Seconds:F1} s, {result.FileBytes:N0} bytes saved ({result.CompactFileBytes:N0} compact)");
                results.Add(result);
            }
        }
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
        foreach (var t in pretrained.Values) t.Dispose();
        return results;
    }

    private static VisionTransformer BuildModel() => new(patchSize: 7, dim: 64, depth: 4, heads: 4, mlpRatio: 2.0, numClasses: 5);

    private Dictionary<string, Tensor> Pretrain(FashionMnistDataset train, FashionMnistDataset test, Device device)
    {
        torch.manual_seed(0);
        using var model = BuildModel();
        model.to(device);
        using var optimizer = Trainer.CreateAdamW(model, 1e-3, weightDecay: 0.05);
        Progress($"pretraining ({options.PretrainEpochs} epochs)", options.PretrainEpochs * train.BatchCount(options.BatchSize), tick =>
        {
            for (int epoch = 0; epoch < options.PretrainEpochs; epoch++)
                Trainer.TrainEpoch(model, train, optimizer, options.BatchSize, seed: epoch, onStep: (_, _) => tick());
        });
        double accuracy = Trainer.Evaluate(model, test);
        console.MarkupLine($"Pretrained ViT: {model.parameters().Sum(p => p.numel()):N0} parameters, test accuracy on classes 0–4 [green]{accuracy:P2}[/].");

        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().clone());
    }

    private MethodResult FineTune(string method, int seed, int lilyRank, Dictionary<string, Tensor> pretrained,
        FashionMnistDataset train, FashionMnistDataset test, Device device)
    {
        torch.manual_seed(seed);
        using var model = BuildModel();
        model.load_state_dict(pretrained);
        model.ResetHead();    // classes 5–9 get a fresh classifier
        model.to(device);

        PeftModel<VisionTransformer>? peft = null;
        double learningRate = 2e-3;
        int rank = 0;
        switch (method)
        {
            case "head":
                foreach (var (name, p) in model.named_parameters()) p.requires_grad = name.StartsWith("head.", StringComparison.Ordinal);
                learningRate = 1e-2;
                break;
            case "full":
                learningRate = 5e-4;
                break;
            case "lora":
                rank = options.LoraRank;
                peft = PeftModel.Create(model, new LoraConfig { TargetModules = Targets, R = rank, LoraAlpha = 2 * rank, ModulesToSave = ["head"] });
                break;
            default:
                rank = lilyRank;
                var routing = method switch { "lily-per-sample" => LilyRouting.PerSample, "lily-per-token" => LilyRouting.PerToken, _ => LilyRouting.BatchMean };
                peft = PeftModel.Create(model, new LilyConfig
                {
                    TargetModules = Targets, R = rank, StrideA = options.LilyStrideA, NumB = options.LilyExperts, Routing = routing, ModulesToSave = ["head"],
                });
                break;
        }

        var trainable = peft?.TrainableParameters() ?? model.parameters().Where(p => p.requires_grad).ToList();
        long trainableCount = trainable.Sum(p => p.numel());
        long headCount = model.named_parameters().Where(p => p.name.StartsWith("head.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        using var optimizer = optim.AdamW(trainable, learningRate, weight_decay: 0.01);

        var curve = new List<double>();
        var clock = Stopwatch.StartNew();
        Progress($"seed {seed} {method}", options.FineTuneEpochs * train.BatchCount(options.BatchSize), tick =>
        {
            for (int epoch = 0; epoch < options.FineTuneEpochs; epoch++)
            {
                Trainer.TrainEpoch(model, train, optimizer, options.BatchSize, seed: 1000 * seed + epoch, onStep: (_, _) => tick());
                curve.Add(Trainer.Evaluate(model, test));
            }
        });
        double seconds = clock.Elapsed.TotalSeconds;

        // What must be kept to reproduce the run: the adapter files in both layouts, or the trained tensors.
        var dir = Path.Combine(options.OutputFolder, "adapters", $"{method}-seed{seed}");
        long peftBytes, compactBytes;
        if (peft is not null)
        {
            peft.Save(dir, AdapterLayout.Peft);
            peftBytes = DirectoryBytes(dir);
            peft.Save(dir + "-compact", AdapterLayout.Compact);
            compactBytes = DirectoryBytes(dir + "-compact");
        }
        else
        {
            // What the trained tensors take as raw data (a checkpoint adds only its header).
            peftBytes = compactBytes = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel() * p.element_size());
        }
        long adapterCount = method is "head" or "full" ? 0 : trainableCount - headCount;
        return new MethodResult(method, seed, rank, trainableCount, adapterCount, curve[^1], seconds, peftBytes, compactBytes, curve);
    }

    private static long DirectoryBytes(string dir) => Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);

    /// <summary>The target types of <paramref name="model"/> as the library groups them: matched entry and shape.</summary>
    internal static List<BudgetMatcher.TargetType> TargetTypes(nn.Module model)
    {
        var linears = model.named_modules().Where(m => m.module is Linear).Select(m => (m.name, Linear: (Linear)m.module));
        return linears
            .Select(l => (Entry: Targets.LastOrDefault(t => l.name == t || l.name.EndsWith("." + t, StringComparison.Ordinal)), l.Linear))
            .Where(l => l.Entry is not null)
            .GroupBy(l => (l.Entry, l.Linear.in_features, l.Linear.out_features))
            .Select(g => new BudgetMatcher.TargetType(g.Key.in_features, g.Key.out_features, g.Count()))
            .ToList();
    }

    private void Progress(string description, int steps, Action<Action> work)
    {
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, steps));
                work(() => task.Increment(1));
            });
    }
}
