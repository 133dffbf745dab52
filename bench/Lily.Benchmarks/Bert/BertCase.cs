using Lily.Bert.Modeling;
using Lily.Deploy;
using Lily.Serialization;
using Lily.TextClassification.Methods;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Bert;

/// <summary>
/// One method on the BERT classifier (<see cref="BertSize"/>): the model with its adapters (or none), the
/// parameters the method trains, AdamW over them, and a fixed batch of token ids, attention mask and labels.
/// <see cref="Step"/> is a training step (forward, cross-entropy, backward, AdamW), <see cref="Infer"/> an
/// inference forward under <c>no_grad</c>.
/// </summary>
public sealed class BertCase : IDisposable
{
    /// <summary>The frozen model's id: no adapter, nothing trained (its forward is every ratio's reference).</summary>
    public const string Frozen = "frozen";

    private readonly BertForSequenceClassification model;
    private readonly PeftModel<BertForSequenceClassification>? peft;
    private readonly IReadOnlyList<Parameter> trainable;
    private readonly optim.Optimizer? optimizer;
    private readonly Tensor ids;
    private readonly Tensor mask;
    private readonly Tensor labels;

    private BertCase(string id, AdaptationMethod? method, BertForSequenceClassification model, PeftModel<BertForSequenceClassification>? peft,
        IReadOnlyList<Parameter> trainable, BertSize size)
    {
        Id = id;
        Method = method;
        this.model = model;
        this.peft = peft;
        this.trainable = trainable;
        optimizer = trainable.Count > 0 ? optim.AdamW(trainable, lr: 1e-4) : null;
        manual_seed(2324);    // the same batch whatever the method's initialisation drew
        ids = randint(1, size.Config.VocabSize, [size.Batch, size.Tokens], dtype: ScalarType.Int64);
        mask = ones([size.Batch, size.Tokens], dtype: ScalarType.Int64);
        // Half the rows end in padding, so the mask's path is the one real batches take.
        mask[TensorIndex.Slice(0, size.Batch / 2), TensorIndex.Slice(size.Tokens * 3 / 4)] = tensor(0L);
        labels = randint(0, 2, [size.Batch], dtype: ScalarType.Int64);
    }

    /// <summary>Method id: <see cref="Frozen"/> or one of <see cref="AdaptationMethod.AllIds"/>.</summary>
    public string Id { get; }

    /// <summary>The method at the matched budget (null for the frozen model).</summary>
    public AdaptationMethod? Method { get; }

    /// <summary>True once the adapters are folded into the base weights (<see cref="Create"/> with <c>merged</c>).</summary>
    public bool Merged { get; private set; }

    /// <summary>Trainable parameters (elements) the optimizer updates.</summary>
    public long TrainableElements => trainable.Sum(p => p.numel());

    /// <summary>The adapter's rank (LoRA, DoRA, Lily, CLoRA), 0 otherwise.</summary>
    public int Rank => Method?.Config switch
    {
        LoraConfig l => l.R,
        LilyConfig l => l.R,
        CLoraConfig c => c.R,
        _ => 0,
    };

    /// <summary>The methods of the benchmark at LoRA r = <see cref="Budget.LoraRank"/>'s budget on <paramref name="size"/>, as the shared text methods' catalog matches them.</summary>
    public static IReadOnlyList<AdaptationMethod> Methods(BertSize size, string targets, IEnumerable<string> ids)
    {
        using var shape = NewModel(size, META);
        return MethodCatalog.For(shape, ids, targets, Budget.LoraRank);
    }

    /// <summary>Builds the case, seeded: the same base weights for every method.</summary>
    /// <param name="id"><see cref="Frozen"/> or a method id of <see cref="MethodCatalog"/>.</param>
    /// <param name="size">Model and batch shape.</param>
    /// <param name="targets">A <see cref="TargetSet"/> name.</param>
    /// <param name="merged">Fold the adapters into the base weights (Lily's routing frozen to the uniform mixture first, which merging needs).</param>
    public static BertCase Create(string id, BertSize size, string targets, bool merged = false)
    {
        var model = NewModel(size, CPU);
        if (id == Frozen)
        {
            foreach (var p in model.parameters()) p.requires_grad = false;
            return new BertCase(id, null, model, null, [], size);
        }
        var method = Methods(size, targets, [id]).Single();
        if (method.Config is null)
        {
            // Full fine-tuning trains everything; head-only the classifier.
            foreach (var (name, p) in model.named_parameters())
                p.requires_grad = method.IsFull || name.StartsWith(MethodCatalog.Head + ".", StringComparison.Ordinal);
            return new BertCase(id, method, model, null, model.parameters().Where(p => p.requires_grad).ToList(), size);
        }
        var peft = PeftModel.Create(model, method.Config);
        var trainable = peft.TrainableParameters();
        // Up-projections (LoRA's B, Lily's B, CLoRA's cores) start at zero; move them off zero, as after a few
        // steps, so no product is skipped or trivially cheap and a merge really changes the weights.
        using (no_grad())
        {
            foreach (var p in trainable)
                if (p.count_nonzero().item<long>() == 0) p.copy_(randn_like(p).mul_(0.01));
        }
        var result = new BertCase(id, method, model, peft, trainable, size);
        if (merged) result.Merge();
        return result;
    }

    /// <summary>The classifier of <paramref name="size"/>, seeded, mean pooling, no pooler (mean pooling does not use it).</summary>
    public static BertForSequenceClassification NewModel(BertSize size, Device device)
    {
        ArgumentNullException.ThrowIfNull(size);
        manual_seed(2323);
        return new BertForSequenceClassification(size.Config, 2, Pooling.Mean, addPoolingLayer: false, device: device);
    }

    private void Merge()
    {
        if (peft is null) return;
        foreach (var adapted in peft.AdaptedModules)
            if (adapted.Layer is LilyLinear lily)
            {
                // Lily's update depends on the router until its mixture is fixed; the uniform mixture stands for a calibrated one.
                var experts = ((LilyConfig)Method!.Config!).NumB;
                using var uniform = full([experts], 1.0 / experts);
                lily.FreezeRouting(uniform);
            }
        peft.Merge();
        Merged = true;
    }

    /// <summary>One training step: gradients dropped, forward, cross-entropy, backward, AdamW.</summary>
    public void Step()
    {
        if (optimizer is null) throw new InvalidOperationException($"{Id} trains nothing.");
        using var scope = NewDisposeScope();
        model.train();
        ClearGradients();
        var loss = nn.functional.cross_entropy(model.call(ids, mask), labels);
        loss.backward();
        optimizer.step();
    }

    /// <summary>An inference forward under <c>no_grad</c>, in eval mode.</summary>
    public void Infer()
    {
        using var scope = NewDisposeScope();
        model.eval();
        using (no_grad())
            model.call(ids, mask);
    }

    /// <summary>The logits of an inference forward, detached from every scope (the caller disposes them).</summary>
    public Tensor Output()
    {
        model.eval();
        using (no_grad())
            return model.call(ids, mask).DetachFromDisposeScope();
    }

    /// <summary>Sets the trainable parameters' gradients to none.</summary>
    public void ClearGradients()
    {
        foreach (var p in trainable) p.grad = null;
    }

    /// <summary>
    /// Bytes a user keeps after training with this method: the adapter folder <see cref="PeftModel{TModel}.Save"/>
    /// writes in <paramref name="layout"/> (adapters and the head), or for full fine-tuning the trained tensors as one safetensors file.
    /// </summary>
    /// <param name="layout">PEFT's layout (a shared tensor once per layer that uses it) or the compact one (once).</param>
    public long CheckpointBytes(AdapterLayout layout)
    {
        if (trainable.Count == 0) return 0;
        var folder = Directory.CreateTempSubdirectory("lily-bert-cost-").FullName;
        try
        {
            if (peft is not null) peft.Save(folder, layout);
            else SafeTensorsFile.Write(Path.Combine(folder, "model.safetensors"),
                model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => KeyValuePair.Create(p.name, (Tensor)p.parameter)));
            return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        optimizer?.Dispose();
        model.Dispose();
        ids.Dispose();
        mask.Dispose();
        labels.Dispose();
    }
}
