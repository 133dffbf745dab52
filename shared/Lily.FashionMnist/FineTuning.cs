using System.Diagnostics;
using Lily.Planning;
using Lily.Serialization;
using Lily.Tuners;
using Spectre.Console;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace Lily.FashionMnist;

/// <summary>
/// The Fashion-MNIST comparison's steps, shared by the sample and the experiments: pretrain a small ViT on
/// classes 0–4 (<see cref="Pretrain"/>), then adapt it to classes 5–9 with one method (<see cref="FineTune"/>),
/// LoRA's competitors at LoRA's trainable budget (<see cref="MatchLily"/> and its siblings).
/// </summary>
public sealed class FineTuning(FashionMnistOptions options, IAnsiConsole console)
{
    /// <summary>The Linear layers LoRA and Lily adapt: attention projections and the MLP.</summary>
    public static readonly string[] Targets = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"];

    /// <summary>The classes the ViT is pretrained on.</summary>
    public static readonly int[] PretrainClasses = [0, 1, 2, 3, 4];

    /// <summary>The classes it is then adapted to.</summary>
    public static readonly int[] AdaptClasses = [5, 6, 7, 8, 9];

    /// <summary>The adapters' AdamW learning rate when it is not tuned.</summary>
    public const double DefaultLearningRate = 2e-3;

    /// <summary>The Fashion-MNIST ViT for classes 5–9 (untrained).</summary>
    /// <param name="depth">Transformer blocks: 4 for the sample, more for the sweep's deep variant (same width).</param>
    public static VisionTransformer BuildModel(int depth = 4) => new(patchSize: 7, dim: 64, depth: depth, heads: 4, mlpRatio: 2.0, numClasses: 5);

    /// <summary>The LoRA config of every comparison: rank r, alpha 2r, a fresh head trained in full.</summary>
    public static LoraConfig LoraConfigFor(int rank, IReadOnlyList<string> targets) =>
        new() { TargetModules = targets, R = rank, LoraAlpha = 2 * rank, ModulesToSave = ["head"] };

    /// <summary>
    /// Lily with <paramref name="strideA"/> and <paramref name="experts"/>, its rank chosen by the
    /// library's <see cref="BudgetMatcher"/> so its trainable count is nearest <paramref name="lora"/>'s.
    /// </summary>
    public static BudgetMatch MatchLily(LoraConfig lora, IReadOnlyList<string> targets, int strideA, int experts, int depth = 4)
    {
        using var model = BuildModel(depth);
        long budget = PeftPlan.For(model, lora).TrainableParameters;
        var lily = new LilyConfig { TargetModules = targets, R = 1, StrideA = strideA, NumB = experts, ModulesToSave = ["head"] };
        return BudgetMatcher.Match(model, lily, budget, maxRank: 256);
    }

    /// <summary>
    /// DoRA (<paramref name="lora"/> with <c>use_dora</c>), its rank chosen by <see cref="BudgetMatcher"/>
    /// so its trainable count (LoRA's factors plus a magnitude per output row of every layer) is nearest
    /// <paramref name="lora"/>'s; alpha stays 2r at the matched rank.
    /// </summary>
    public static BudgetMatch MatchDora(LoraConfig lora, IReadOnlyList<string> targets, int depth = 4)
    {
        using var model = BuildModel(depth);
        long budget = PeftPlan.For(model, lora).TrainableParameters;
        var match = BudgetMatcher.Match(model, LoraConfigFor(1, targets) with { UseDora = true }, budget, maxRank: 256);
        int r = ((LoraConfig)match.Config).R;
        return match with { Config = LoraConfigFor(r, targets) with { UseDora = true } };
    }

    /// <summary>
    /// CLoRA with <paramref name="bases"/> base pairs and SADE weight <paramref name="sadeWeight"/>,
    /// its rank chosen by <see cref="BudgetMatcher"/> so its trainable count is nearest <paramref name="lora"/>'s.
    /// </summary>
    public static BudgetMatch MatchCLora(LoraConfig lora, IReadOnlyList<string> targets, int bases, double sadeWeight, int depth = 4)
    {
        using var model = BuildModel(depth);
        long budget = PeftPlan.For(model, lora).TrainableParameters;
        var clora = new CLoraConfig { TargetModules = targets, R = 1, NumBases = bases, SadeWeight = sadeWeight, ModulesToSave = ["head"] };
        return BudgetMatcher.Match(model, clora, budget, maxRank: 256);
    }

    /// <summary>Pretrains the ViT on classes 0–4 and returns its weights (on the CPU).</summary>
    public Dictionary<string, Tensor> Pretrain(FashionMnistDataset train, FashionMnistDataset test, Device device, int depth = 4)
    {
        torch.manual_seed(0);
        using var model = BuildModel(depth);
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

    /// <summary>
    /// Fine-tunes one method from the pretrained weights: <paramref name="config"/> is the adapter
    /// (null for head-only and full fine-tuning). <paramref name="inspect"/> sees the trained adapter
    /// before it is disposed; <paramref name="saveFiles"/> writes the adapter files and measures them.
    /// <paramref name="learningRate"/> overrides an adapter's AdamW rate (2e-3 unless tuned).
    /// </summary>
    public MethodResult FineTune(string method, int seed, PeftConfig? config, Dictionary<string, Tensor> pretrained,
        FashionMnistDataset train, FashionMnistDataset test, Device device,
        Action<PeftModel<VisionTransformer>, FashionMnistDataset>? inspect = null, bool saveFiles = true, int depth = 4, double? learningRate = null)
    {
        torch.manual_seed(seed);
        using var model = BuildModel(depth);
        model.load_state_dict(pretrained);
        model.ResetHead();    // classes 5–9 get a fresh classifier
        model.to(device);

        PeftModel<VisionTransformer>? peft = null;
        double rate = learningRate ?? DefaultLearningRate;
        int rank = config switch { LoraConfig l => l.R, LilyConfig l => l.R, CLoraConfig c => c.R, _ => 0 };
        switch (method)
        {
            case "head":
                foreach (var (name, p) in model.named_parameters()) p.requires_grad = name.StartsWith("head.", StringComparison.Ordinal);
                rate = 1e-2;
                break;
            case "full":
                rate = 5e-4;
                break;
            default:
                peft = PeftModel.Create(model, config ?? throw new ArgumentNullException(nameof(config), $"Method {method} needs an adapter config."));
                break;
        }

        var trainable = peft?.TrainableParameters() ?? model.parameters().Where(p => p.requires_grad).ToList();
        long trainableCount = trainable.Sum(p => p.numel());
        long headCount = model.named_parameters().Where(p => p.name.StartsWith("head.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        using var optimizer = optim.AdamW(trainable, rate, weight_decay: 0.01);

        var curve = new List<double>();
        var clock = Stopwatch.StartNew();
        Progress($"seed {seed} {method}", options.FineTuneEpochs * train.BatchCount(options.BatchSize), tick =>
        {
            for (int epoch = 0; epoch < options.FineTuneEpochs; epoch++)
            {
                // A method's own training term (CLoRA's SADE) joins the loss; for the others it is zero.
                Trainer.TrainEpoch(model, train, optimizer, options.BatchSize, seed: 1000 * seed + epoch, onStep: (_, _) => tick(),
                    extraLoss: peft is null ? null : peft.AuxiliaryLoss);
                curve.Add(Trainer.Evaluate(model, test));
            }
        });
        double seconds = clock.Elapsed.TotalSeconds;

        if (peft is not null) inspect?.Invoke(peft, test);

        // What must be kept to reproduce the run: the adapter files in both layouts, or the trained tensors.
        var dir = Path.Combine(options.OutputFolder, "adapters", $"{method}-seed{seed}");
        long peftBytes = 0, compactBytes = 0;
        if (saveFiles && peft is not null)
        {
            peft.Save(dir, AdapterLayout.Peft);
            peftBytes = DirectoryBytes(dir);
            peft.Save(dir + "-compact", AdapterLayout.Compact);
            compactBytes = DirectoryBytes(dir + "-compact");
        }
        else if (saveFiles)
        {
            // What the trained tensors take as raw data (a checkpoint adds only its header).
            peftBytes = compactBytes = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel() * p.element_size());
        }
        long adapterCount = method is "head" or "full" ? 0 : trainableCount - headCount;
        return new MethodResult(method, seed, rank, trainableCount, adapterCount, curve[^1], seconds, peftBytes, compactBytes, curve);
    }

    private static long DirectoryBytes(string dir) => Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);

    /// <summary>Runs <paramref name="work"/> under a progress bar of <paramref name="steps"/> ticks.</summary>
    public void Progress(string description, int steps, Action<Action> work)
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
