using Lily.Planning;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// A <see cref="LlamaStack"/> with adapters on all seven projections (or none), a fixed batch and upstream
/// gradient, and AdamW over the adapters: everything a training step and an inference forward need.
/// </summary>
public sealed class LlamaCase : IDisposable
{
    private static readonly Dictionary<int, BudgetMatch> Matches = new();

    private readonly LlamaStack model;
    private readonly IReadOnlyList<Parameter> trainable;
    private readonly optim.Optimizer? optimizer;
    private readonly Tensor input;
    private readonly Tensor upstream;
    private IDisposable? hooks;

    private LlamaCase(LlamaStack model, IReadOnlyList<Parameter> trainable, optim.Optimizer? optimizer, Tensor input, Tensor upstream, int rank)
    {
        this.model = model;
        this.trainable = trainable;
        this.optimizer = optimizer;
        this.input = input;
        this.upstream = upstream;
        Rank = rank;
    }

    /// <summary>The adapter's rank, 0 for the frozen stack.</summary>
    public int Rank { get; }

    /// <summary>The Lily config (stride_A 1, <see cref="Budget.Experts"/> experts) whose count on a <paramref name="depth"/>-block stack is nearest LoRA r = 8's, from <see cref="BudgetMatcher"/>.</summary>
    public static BudgetMatch MatchLily(int depth)
    {
        lock (Matches)
        {
            if (!Matches.TryGetValue(depth, out var match))
            {
                using var shape = new LlamaStack(depth, META);
                match = Budget.MatchLily(shape, LlamaSize.TargetModules);
                Matches[depth] = match;
            }
            return match;
        }
    }

    /// <summary>The adapter config of <paramref name="adapter"/> on a <paramref name="depth"/>-block stack.</summary>
    public static PeftConfig ConfigOf(Adapter adapter, int depth) => adapter switch
    {
        Adapter.Lora => Budget.Lora(LlamaSize.TargetModules),
        Adapter.LilyBatchMean => MatchLily(depth).Config,
        _ => throw new ArgumentOutOfRangeException(nameof(adapter), adapter, "The Llama benchmark compares the frozen stack, LoRA and batch-mean Lily."),
    };

    /// <summary>Builds the case, seeded.</summary>
    /// <param name="adapter"><see cref="Adapter.Frozen"/>, <see cref="Adapter.Lora"/> or <see cref="Adapter.LilyBatchMean"/>.</param>
    /// <param name="depth">Blocks.</param>
    /// <param name="device">Where everything lives (<c>meta</c> builds no optimizer).</param>
    /// <param name="scope">Where the step's temporaries are disposed.</param>
    public static LlamaCase Create(Adapter adapter, int depth, Device device, StepScope scope = StepScope.Step)
    {
        manual_seed(1717);
        var model = new LlamaStack(depth, device) { ScopePerLayer = scope == StepScope.Block };
        int rank = 0;
        IReadOnlyList<Parameter> trainable = [];
        if (adapter != Adapter.Frozen)
        {
            var config = ConfigOf(adapter, depth);
            rank = config switch { LoraConfig l => l.R, LilyConfig l => l.R, _ => 0 };
            var peft = PeftModel.Create(model, config);
            trainable = peft.TrainableParameters();
            // B starts at zero; move it off zero so every path carries gradient, as after a few steps.
            using (no_grad())
            {
                foreach (var (name, p) in model.named_parameters())
                    if (p.requires_grad && (name.Contains(".lora_B.", StringComparison.Ordinal) || name.Contains(".lily_B.", StringComparison.Ordinal)))
                        p.copy_(randn_like(p).mul_(0.01));
            }
        }
        return Finish(model, trainable, device, scope, rank);
    }

    /// <summary>
    /// LoRA at the benchmark's rank and scaling written inline in every block's forward (<see cref="InlineLora"/>,
    /// no library), B moved off zero as in <see cref="Create"/>: the floor the library's LoRA is measured against.
    /// </summary>
    public static LlamaCase CreateInline(InlineLoraForm form, int depth, Device device, StepScope scope = StepScope.Step)
    {
        manual_seed(1717);
        var model = new LlamaStack(depth, device) { ScopePerLayer = scope == StepScope.Block };
        var config = Budget.Lora(LlamaSize.TargetModules);
        var trainable = new List<Parameter>();
        foreach (var inline in model.AddInlineLora(config.R, config.Scaling, form))
            trainable.AddRange(inline.parameters());
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith("_B", StringComparison.Ordinal)) p.copy_(randn_like(p).mul_(0.01));
        }
        return Finish(model, trainable, device, scope, config.R);
    }

    /// <summary>
    /// Copies the library LoRA's A and B of <paramref name="library"/> into the inline LoRA of <paramref name="inline"/>
    /// (same depth), so both compute the same function: the check that <see cref="InlineLora"/> is LoRA's math.
    /// </summary>
    public static void CopyLora(LlamaCase library, LlamaCase inline)
    {
        var source = library.model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var (name, p) in inline.model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                // layers.0.inline_lora.q_proj_A → layers.0.self_attn.q_proj.lora_A.default.weight (gate, up, down: mlp)
                var parts = name.Split('.');
                var projection = parts[3][..^2];
                var kind = parts[3][^1];
                var parent = projection is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";
                p.copy_(source[$"{parts[0]}.{parts[1]}.{parent}.{projection}.lora_{kind}.default.weight"]);
            }
        }
    }

    private static LlamaCase Finish(LlamaStack model, IReadOnlyList<Parameter> trainable, Device device, StepScope scope, int rank)
    {
        var optimizer = trainable.Count > 0 && device.type != DeviceType.META ? optim.AdamW(trainable, lr: 1e-4) : null;
        manual_seed(1718);    // the same input whatever the adapters' init drew
        var input = randn([LlamaSize.Batch, LlamaSize.Tokens, LlamaSize.Hidden], device: device).requires_grad_(true);
        var upstream = randn([LlamaSize.Batch, LlamaSize.Tokens, LlamaSize.Hidden], device: device).div_(100);
        model.train();
        return new LlamaCase(model, trainable, optimizer, input, upstream, rank)
        {
            hooks = scope == StepScope.BlockHooks ? BlockScopes.Attach(model.Blocks) : null,
        };
    }

    /// <summary>Trainable parameters (elements).</summary>
    public long TrainableElements => trainable.Sum(p => p.numel());

    /// <summary>
    /// One training step in one dispose scope: gradients to none, forward, backward of a fixed upstream
    /// gradient (the input requires grad, so backward runs through every block even without adapters), AdamW.
    /// </summary>
    public void Step() => Run(withOptimizer: true);

    /// <summary><see cref="Step"/> without the AdamW step.</summary>
    public void ForwardBackward() => Run(withOptimizer: false);

    /// <summary>The AdamW step alone, on the gradients the last step left (run <see cref="ForwardBackward"/> first).</summary>
    public void OptimizerStep()
    {
        using var scope = NewDisposeScope();
        optimizer?.step();
        BenchOptions.Current.Synchronize();
    }

    private void Run(bool withOptimizer)
    {
        using var scope = NewDisposeScope();
        ClearGradients();
        model.call(input).backward([upstream]);
        if (withOptimizer) optimizer?.step();
        BenchOptions.Current.Synchronize();
    }

    /// <summary>Unmerged inference: one forward under <c>no_grad</c>.</summary>
    public void Infer()
    {
        using var scope = NewDisposeScope();
        using (no_grad())
            model.call(input);
        BenchOptions.Current.Synchronize();
    }

    /// <summary>The output of an inference forward, detached from every scope (the caller disposes it).</summary>
    public Tensor Output()
    {
        using (no_grad())
            return model.call(input).DetachFromDisposeScope();
    }

    /// <summary>The gradients a step leaves: the input's, then every trainable parameter's.</summary>
    public IEnumerable<Tensor?> Gradients() => trainable.Select(p => p.grad).Prepend(input.grad);

    /// <summary>Sets the gradients of the input and the adapters to none.</summary>
    public void ClearGradients()
    {
        foreach (var p in trainable) p.grad = null;
        input.grad = null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        hooks?.Dispose();
        optimizer?.Dispose();
        model.Dispose();
        input.Dispose();
        upstream.Dispose();
    }
}
