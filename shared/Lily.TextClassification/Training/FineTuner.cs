using System.Diagnostics;
using Lily.Serialization;
using Lily.TextClassification.Methods;
using Lily.Tuners;
using TorchSharp;
using static TorchSharp.torch;

namespace Lily.TextClassification.Training;

/// <summary>
/// Fine-tunes a fresh copy of the pretrained classifier with one method and scores it. Every step and every
/// evaluation batch runs in its own dispose scope, so native memory stays flat over a run.
/// </summary>
/// <typeparam name="TModel">The classifier: (token ids, attention mask) → logits.</typeparam>
/// <param name="createModel">Builds the pretrained encoder with a new head; called with the run's seed already set.</param>
public sealed class FineTuner<TModel>(Func<TModel> createModel) where TModel : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Called after each step with the 0-based step, the step count and the step's loss.</summary>
    public Action<int, int, double>? OnStep { get; init; }

    /// <summary>Weight of the method's own training terms (<see cref="PeftModel{TModel}.AuxiliaryLoss()"/>, e.g. CLoRA's SADE) added to the loss; they are zero for methods without one.</summary>
    public bool UseAuxiliaryLoss { get; init; } = true;

    /// <summary>Measures the trained adapter (e.g. the effective rank of its ΔW) on the evaluation data; null to skip.</summary>
    public Func<PeftModel<TModel>, EncodedExamples, double>? MeasureAdapter { get; init; }

    /// <summary>Trains on <paramref name="train"/> and returns the accuracy on <paramref name="evaluate"/>.</summary>
    public RunResult Run(AdaptationMethod method, RunSettings settings, EncodedExamples train, EncodedExamples evaluate)
    {
        var clock = Stopwatch.StartNew();
        torch.manual_seed(settings.Seed);
        using var model = createModel();
        PeftModel<TModel>? peft = null;
        if (method.Config is { } config)
        {
            peft = PeftModel.Create(model, config);
        }
        else
        {
            foreach (var (name, p) in model.named_parameters())
                p.requires_grad = method.IsFull || name.StartsWith(MethodCatalog.Head + ".", StringComparison.Ordinal);
        }

        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        long trainableCount = trainable.Sum(p => p.numel());
        using var optimizer = optim.AdamW(trainable, lr: settings.LearningRate, weight_decay: settings.WeightDecay);
        int stepsPerEpoch = (train.Count + settings.BatchSize - 1) / settings.BatchSize;
        int totalSteps = settings.Epochs * stepsPerEpoch;
        int warmup = Math.Max(1, (int)Math.Round(RunSettings.WarmupFraction * totalSteps));
        var scheduler = optim.lr_scheduler.LambdaLR(optimizer, step => LinearWarmupSchedule.Factor(step, totalSteps, warmup));
        bool auxiliary = UseAuxiliaryLoss && peft is not null && method.Config is CLoraConfig { SadeWeight: > 0 };

        var losses = new List<double>(totalSteps);
        var random = new Random(settings.Seed);
        var stepClock = new Stopwatch();
        model.train();
        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            foreach (var rows in train.BatchIndices(settings.BatchSize, random))
            {
                stepClock.Start();
                using (NewDisposeScope())
                {
                    var (ids, mask, labels) = train.Batch(rows);
                    optimizer.zero_grad();
                    var loss = nn.functional.cross_entropy(model.call(ids, mask), labels);
                    (auxiliary ? loss + peft!.AuxiliaryLoss() : loss).backward();
                    optimizer.step();
                    scheduler.step();
                    losses.Add(loss.item<float>());
                }
                stepClock.Stop();
                OnStep?.Invoke(losses.Count - 1, totalSteps, losses[^1]);
            }
        }

        // The library's check: every adapter took part in training (throws, naming the layers, if one did not).
        peft?.VerifyAdaptersApplied();
        double accuracy = Accuracy(model, evaluate);
        long bytes = CheckpointBytes(model, peft, method, AdapterLayout.Peft);
        long compact = peft is null ? bytes : CheckpointBytes(model, peft, method, AdapterLayout.Compact);
        double measured = peft is not null && MeasureAdapter is { } measure ? measure(peft, evaluate) : double.NaN;
        return new RunResult(method.Id, settings.Seed, settings.LearningRate, ScalingOf(method), trainableCount, accuracy,
            clock.Elapsed.TotalSeconds, stepClock.Elapsed.TotalMilliseconds / Math.Max(1, losses.Count), bytes, compact, losses, measured);
    }

    /// <summary>Accuracy of <paramref name="model"/> on <paramref name="data"/> (eval mode, no gradients).</summary>
    public static double Accuracy(TModel model, EncodedExamples data, int batchSize = 64)
    {
        model.eval();
        long correct = 0;
        using var noGrad = no_grad();
        foreach (var rows in data.BatchIndices(batchSize, shuffle: null))
        {
            using var scope = NewDisposeScope();
            var (ids, mask, labels) = data.Batch(rows);
            correct += model.call(ids, mask).argmax(1).eq(labels).sum().item<long>();
        }
        return (double)correct / data.Count;
    }

    /// <summary>Lily's or CLoRA's scaling; 1 for methods without one.</summary>
    public static double ScalingOf(AdaptationMethod method) => method.Config switch
    {
        LilyConfig lily => lily.Scaling,
        CLoraConfig clora => clora.Scaling,
        _ => 1.0,
    };

    // What a user keeps after training: the adapter folder as Save writes it, or the trained tensors themselves.
    private static long CheckpointBytes(TModel model, PeftModel<TModel>? peft, AdaptationMethod method, AdapterLayout layout)
    {
        var folder = Directory.CreateTempSubdirectory("lily-text-checkpoint-").FullName;
        try
        {
            if (peft is not null)
            {
                peft.Save(folder, layout);
            }
            else
            {
                var trained = model.named_parameters().Where(p => method.IsFull || p.name.StartsWith(MethodCatalog.Head + ".", StringComparison.Ordinal))
                    .Select(p => KeyValuePair.Create(p.name, (Tensor)p.parameter));
                SafeTensorsFile.Write(Path.Combine(folder, "model.safetensors"), trained);
            }
            return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
