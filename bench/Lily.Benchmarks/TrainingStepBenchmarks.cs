using BenchmarkDotNet.Attributes;
using Lily.FashionMnist;
using Lily.Injection;
using Lily.Planning;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// The Fashion-MNIST ViT (<see cref="TinyVitSize"/>) with adapters on q/k/v/o, fc1 and fc2 of every block and a trained head,
/// an AdamW optimizer and a fixed batch: everything one training step needs.
/// </summary>
public sealed class TinyVitCase : IDisposable
{
    private readonly VisionTransformer model;
    private readonly IReadOnlyList<Parameter> trainable;
    private readonly optim.Optimizer optimizer;
    private readonly Tensor patches;
    private readonly Tensor labels;

    private TinyVitCase(VisionTransformer model, IReadOnlyList<Parameter> trainable, optim.Optimizer optimizer, Tensor patches, Tensor labels)
    {
        this.model = model;
        this.trainable = trainable;
        this.optimizer = optimizer;
        this.patches = patches;
        this.labels = labels;
    }

    private static readonly Lazy<BudgetMatch> Matched = new(() =>
    {
        using var model = TinyVitSize.Create(CPU);
        return Budget.MatchLily(model, TinyVitSize.TargetModules, ["head"]);
    });

    /// <summary>LoRA's rank 8, or the Lily rank the library's <see cref="BudgetMatcher"/> matches to LoRA's count on this model.</summary>
    public static int RankOf(Adapter adapter) =>
        adapter == Adapter.Lora ? Budget.LoraRank : ((LilyConfig)Matched.Value.Config).R;

    /// <summary>Trainable parameters of the model (adapter and head), from the library's <see cref="PeftPlan"/>.</summary>
    public static long TrainableParameters(Adapter adapter) => adapter == Adapter.Lora ? Matched.Value.Budget : Matched.Value.Trainable;

    /// <summary>Builds model, adapters, optimizer and batch for <paramref name="adapter"/> (not <see cref="Adapter.Frozen"/>).</summary>
    /// <param name="adapter">The method.</param>
    /// <param name="device">Where everything lives.</param>
    /// <param name="attachment">Replace the layers (the ViT's fields allow it) or attach by forward hooks.</param>
    /// <exception cref="InvalidOperationException">The model's trainable count differs from <see cref="TrainableParameters"/>.</exception>
    public static TinyVitCase Create(Adapter adapter, Device device, AdapterAttachment attachment = AdapterAttachment.Auto)
    {
        manual_seed(4321);
        var model = TinyVitSize.Create(device);
        PeftConfig config = adapter switch
        {
            Adapter.Lora => Budget.Lora(TinyVitSize.TargetModules) with { ModulesToSave = ["head"] },
            Adapter.Frozen => throw new ArgumentOutOfRangeException(nameof(adapter), adapter, "The training benchmark compares adapters."),
            _ => new LilyConfig
            {
                TargetModules = TinyVitSize.TargetModules, ModulesToSave = ["head"], R = RankOf(adapter),
                NumB = Budget.Experts, StrideA = 1, Routing = LayerCase.RoutingOf(adapter),
            },
        };
        var peft = PeftModel.Create(model, config, attachment: attachment);

        long trainableCount = peft.GetParameterSummary().TrainableParameters;
        if (trainableCount != TrainableParameters(adapter))
            throw new InvalidOperationException($"{adapter}: the model trains {trainableCount} parameters, the budget says {TrainableParameters(adapter)}.");

        // B starts at zero; move it off zero so every path carries gradient, as after a few steps.
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
                if (p.requires_grad && (name.Contains(".lora_B.", StringComparison.Ordinal) || name.Contains(".lily_B.", StringComparison.Ordinal)))
                    p.copy_(randn_like(p).mul_(0.01));
        }

        var trainable = peft.TrainableParameters();
        var optimizer = optim.AdamW(trainable, lr: 1e-3);
        var patches = randn([TinyVitSize.Batch, TinyVitSize.Channels, TinyVitSize.ImageSize, TinyVitSize.ImageSize], device: device);
        var labels = randint(TinyVitSize.Classes, [TinyVitSize.Batch], device: device);
        model.train();
        return new TinyVitCase(model, trainable, optimizer, patches, labels);
    }

    /// <summary>Sets every gradient to none (the optimizer's state stays).</summary>
    public void ClearGradients()
    {
        foreach (var p in trainable) p.grad = null;
    }

    /// <summary>One step: <c>optimizer.zero_grad()</c>, forward, cross-entropy, backward, AdamW step.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.call(patches), labels);
        loss.backward();
        optimizer.step();
        BenchOptions.Current.Synchronize();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
        patches.Dispose();
        labels.Dispose();
    }
}

/// <summary>
/// End-to-end training step (forward + backward + AdamW step) of the Fashion-MNIST ViT (<see cref="TinyVitSize"/>) with LoRA
/// r = 8 against Lily in each routing mode at the matched trainable-parameter budget.
/// </summary>
[Config(typeof(TrainingColumns))]
public class TrainingStepBenchmarks
{
    private TinyVitCase? trainingCase;

    /// <summary>The adapter on q/k/v/o/fc1/fc2.</summary>
    [Params(Adapter.Lora, Adapter.LilyBatchMean, Adapter.LilyPerSample, Adapter.LilyPerToken)]
    public Adapter Adapter { get; set; }

    /// <summary>Builds the case and measures its native memory in a child process.</summary>
    [GlobalSetup]
    public void Setup()
    {
        trainingCase = TinyVitCase.Create(Adapter, BenchOptions.Current.TorchDevice);
        NativeMemory.PeakBytes("train", Adapter.ToString(), "step");
    }

    /// <summary>Frees the case.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        trainingCase?.Dispose();
        trainingCase = null;
    }

    /// <summary>One training step.</summary>
    [Benchmark]
    public void TrainingStep() => trainingCase!.Step();

    /// <summary>The memory probe's side: a training step of the case <paramref name="target"/> (an <see cref="Adapter"/> name).</summary>
    public static ProbeTarget ProbeOperation(string target)
    {
        var c = TinyVitCase.Create(Enum.Parse<Adapter>(target), BenchOptions.Current.TorchDevice);
        return new ProbeTarget(c.Step, c.ClearGradients);
    }
}
