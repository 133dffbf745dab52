using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// A Linear layer with a Lily update. With <c>h = A x</c> and router probabilities
/// <c>p = softmax(R h)</c>: <c>y = W x + b + scaling · h Σ_e p̄_e B_e</c>, where p̄ depends on
/// <see cref="Routing"/> (the batch mean of p by default, as PEFT computes).
/// </summary>
/// <remarks>
/// <c>lily_A</c> (a shared <see cref="Linear"/>, <c>[r, d_in]</c>) and <c>lily_B</c> (a shared
/// <see cref="LilyExpertPool"/>) are the same module objects in every layer that shares them, so
/// each is one tensor whose gradient sums the contributions of all its layers. <c>lily_router</c>
/// (<c>[E, r]</c>) is this layer's own. Lily cannot be merged into W while the mixture depends on the
/// input; after <see cref="FreezeRouting"/> the update is one fixed rank-≤r matrix, which can be merged.
/// </remarks>
public sealed class LilyLinear : AdapterLinear, IRoutedAdapter
{
    private readonly Linear lily_A;
    private readonly LilyExpertPool lily_B;
    private readonly Linear lily_router;
    // The fixed mixture [E] while routing is frozen: owned by the layer, outside every dispose scope.
    // Deliberately not a registered buffer: this layer is not itself a child of the model (only its
    // modules are), so Module.to on the model would never move a buffer of it; the mixture follows
    // the adapter's weights lazily instead (see FrozenMixtureFor).
    private Tensor? frozenMixture;

    /// <summary>Wraps <paramref name="baseLayer"/> with shared <paramref name="sharedA"/> and <paramref name="sharedB"/>.</summary>
    /// <param name="baseLayer">The frozen layer.</param>
    /// <param name="sharedA">Down-projection shared by a block of layers; <c>[r, d_in]</c>, no bias.</param>
    /// <param name="sharedB">Expert pool shared by all layers of this target type.</param>
    /// <param name="scaling">Plain multiplier of the update.</param>
    /// <param name="routing">How router logits become expert weights.</param>
    public LilyLinear(Linear baseLayer, Linear sharedA, LilyExpertPool sharedB, double scaling, LilyRouting routing)
        : base(nameof(LilyLinear), baseLayer)
    {
        if (sharedA.in_features != baseLayer.in_features)
            throw new ArgumentException($"Shared A takes {sharedA.in_features} features but the base layer has {baseLayer.in_features}.", nameof(sharedA));
        if (sharedB.OutFeatures != baseLayer.out_features || sharedB.Rank != sharedA.out_features)
            throw new ArgumentException($"Expert pool [{sharedB.Experts}×{sharedB.Rank}, {sharedB.OutFeatures}] does not fit A (r = {sharedA.out_features}) and the base layer ({baseLayer.out_features} outputs).", nameof(sharedB));

        lily_A = sharedA;
        lily_B = sharedB;
        var weight = sharedA.weight!;
        lily_router = nn.Linear(sharedB.Rank, sharedB.Experts, hasBias: false, device: weight.device, dtype: weight.dtype);
        using (no_grad())
            nn.init.kaiming_uniform_(lily_router.weight!, a: Math.Sqrt(5));
        Scaling = scaling;
        Routing = routing;
        RegisterComponents();
    }

    /// <summary>Plain multiplier of the update.</summary>
    public double Scaling { get; }

    /// <summary>How router logits become expert weights.</summary>
    public LilyRouting Routing { get; set; }

    /// <summary>The shared down-projection A, <c>[r, d_in]</c>.</summary>
    public Linear LilyA => lily_A;

    /// <summary>The shared expert pool B.</summary>
    public LilyExpertPool LilyB => lily_B;

    /// <summary>This layer's router, <c>[E, r]</c>.</summary>
    public Linear Router => lily_router;

    /// <summary>The number of experts E in the shared pool.</summary>
    public int Experts => lily_B.Experts;

    /// <summary>True while <see cref="Routing"/> is <see cref="LilyRouting.BatchMean"/>: one mixture for every token of the batch.</summary>
    public bool MixesAcrossBatch => Routing == LilyRouting.BatchMean;

    /// <summary>Lily's r: the width of A's output and of every expert's input.</summary>
    public override long? AllocatedRank => lily_B.Rank;

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lily_A.weight!.dtype;

    /// <summary>True once the update is fixed (see <see cref="FreezeRouting"/>), and only then.</summary>
    public override bool CanMerge => frozenMixture is not null;

    /// <summary>The frozen expert weights <c>[E]</c> as a copy, or null while the router decides (the default).</summary>
    public double[]? FrozenMixture
    {
        get
        {
            if (frozenMixture is null) return null;
            using var scope = NewDisposeScope();
            return frozenMixture.to(ScalarType.Float64, CPU).data<double>().ToArray();
        }
    }

    /// <summary>
    /// Called, only while set, with the per-token router probabilities <c>softmax(R A x)</c>
    /// (<c>[N, E]</c>) of every input the layer adapts — also while routing is frozen (the router
    /// then runs for the observer alone). The tensor is freed when the observer returns. Null, the
    /// default, costs nothing.
    /// </summary>
    internal Action<Tensor>? RoutingObserver { get; set; }

    /// <inheritdoc />
    Action<Tensor>? IRoutedAdapter.RoutingObserver
    {
        get => RoutingObserver;
        set => RoutingObserver = value;
    }

    /// <summary>
    /// Fixes the expert weights to <paramref name="mixture"/> (<c>[E]</c>, e.g. a calibrated mean
    /// mixture), whatever <see cref="Routing"/> says: the update becomes the fixed rank-≤r matrix
    /// <see cref="DeltaWeight"/>(<paramref name="mixture"/>), and the layer can be merged. The router is
    /// kept (and saved) unchanged; <see cref="UnfreezeRouting"/> gives it back control.
    /// </summary>
    /// <param name="mixture">Expert weights <c>[E]</c>, any floating dtype and device; copied.</param>
    /// <exception cref="ArgumentException">Not a finite floating-point vector of length E.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged; unmerge it first.</exception>
    public void FreezeRouting(Tensor mixture)
    {
        ArgumentNullException.ThrowIfNull(mixture);
        if (Merged) throw new InvalidOperationException("Unmerge the layer before changing its frozen routing: the merged weight holds the update of the current mixture.");
        if (mixture.dim() != 1 || mixture.shape[0] != lily_B.Experts || !mixture.is_floating_point())
            throw new ArgumentException($"Expected a floating-point mixture of shape [{lily_B.Experts}], got {mixture.dtype} [{string.Join(", ", mixture.shape)}].", nameof(mixture));
        using (no_grad())
        {
            if (!mixture.isfinite().all().item<bool>())
                throw new ArgumentException("The mixture holds a NaN or an infinity.", nameof(mixture));
            var weight = lily_A.weight!;
            var copy = mixture.detach().to(weight.dtype, weight.device, copy: true).DetachFromDisposeScope();
            frozenMixture?.Dispose();
            frozenMixture = copy;
        }
    }

    /// <summary>Gives control back to the router (a no-op when routing is not frozen).</summary>
    /// <exception cref="InvalidOperationException">The layer is merged; unmerge it first.</exception>
    public void UnfreezeRouting()
    {
        if (Merged) throw new InvalidOperationException("Unmerge the layer before unfreezing its routing: the merged weight holds the frozen update.");
        frozenMixture?.Dispose();
        frozenMixture = null;
    }

    // The frozen mixture where the adapter's weights are now; re-homed once after a device or dtype move.
    private Tensor FrozenMixtureFor(Tensor weight)
    {
        var m = frozenMixture!;
        if (m.device == weight.device && m.dtype == weight.dtype) return m;
        using (no_grad())
        {
            var moved = m.to(weight.dtype, weight.device).DetachFromDisposeScope();
            m.Dispose();
            frozenMixture = moved;
            return moved;
        }
    }

    // Σ_e p_e B_e for the frozen mixture, [r, d_out].
    private Tensor FrozenExpert() => lily_B.forward(FrozenMixtureFor(lily_B.Weight));

    // Only while observed: the router runs for the observer, never for the update.
    private void Observe(Tensor h) => Observe(h, null);

    private void Observe(Tensor h, Tensor? logits)
    {
        if (RoutingObserver is not { } observer) return;
        using var scope = NewDisposeScope();
        observer(TokenProbabilities(logits ?? lily_router.forward(h)).t());
    }

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x)
    {
        var h = lily_A.forward(x);
        if (frozenMixture is not null)
        {
            Observe(h);
            var fixedDelta = h.matmul(FrozenExpert());
            return Scaling == 1.0 ? fixedDelta : fixedDelta.mul_(Scaling);
        }
        var logits = lily_router.forward(h);
        Observe(h, logits);
        Tensor delta;
        if (Routing == LilyRouting.PerSample)
        {
            delta = PerSample(h, logits);
        }
        else
        {
            var (left, right) = Factors(h, logits);
            delta = left.matmul(right).view([.. h.shape[..^1], lily_B.OutFeatures]);
        }
        return Scaling == 1.0 ? delta : delta.mul_(Scaling);
    }

    /// <summary>
    /// Batch-mean and per-token routing end in one matrix product, so the update goes into the base
    /// output rows by a single <c>addmm_</c>; per-sample routing (a batched product) adds <see cref="Delta"/>.
    /// </summary>
    protected override Tensor AddDelta(Tensor result, Tensor x)
    {
        if (Routing == LilyRouting.PerSample && frozenMixture is null) return base.AddDelta(result, x);
        var h = lily_A.forward(x);
        if (frozenMixture is not null)
        {
            Observe(h);
            return AddScaledProduct(result, h.reshape(-1, lily_B.Rank), FrozenExpert(), Scaling);
        }
        var logits = lily_router.forward(h);
        Observe(h, logits);
        var (left, right) = Factors(h, logits);
        return AddScaledProduct(result, left, right, Scaling);
    }

    // The update as a product left · right of rows: [N, k] · [k, d_out].
    private (Tensor Left, Tensor Right) Factors(Tensor h, Tensor logits) => Routing switch
    {
        LilyRouting.BatchMean => BatchMean(h, logits),
        LilyRouting.PerToken => PerToken(h, logits),
        _ => throw new InvalidOperationException($"Unknown routing mode {Routing}."),
    };

    // One mixture for the batch: mean over all tokens of the per-token softmax, then a single
    // [r, d_out] matrix — the same cost as LoRA's B plus a tiny router.
    private (Tensor, Tensor) BatchMean(Tensor h, Tensor logits)
    {
        var pBar = TokenProbabilities(logits).mean([1]);                               // [E]
        return (h.reshape(-1, lily_B.Rank), lily_B.forward(pBar));
    }

    // The per-token softmax over experts, transposed: [E, N]. libtorch's CPU softmax is slow over
    // a last dimension as short as E (about 150 µs for 2,048 tokens at E = 2) and fast over the
    // first (under 10 µs), so it runs on the transposed logits.
    private Tensor TokenProbabilities(Tensor logits) => logits.reshape(-1, lily_B.Experts).t().softmax(0);

    // One mixture per sample from the summed logits of its tokens (the paper's formula).
    // Dimension 0 is the sample; a 1-D input is one sample of one token, a 2-D input is
    // one token per sample.
    private Tensor PerSample(Tensor h, Tensor logits)
    {
        if (h.dim() == 1)
        {
            var (left, right) = BatchMean(h, logits);
            return left.matmul(right).view(lily_B.OutFeatures);
        }
        long samples = h.shape[0];
        var p = logits.reshape(samples, -1, lily_B.Experts).sum(1).softmax(-1);      // [S, E]
        var mixed = lily_B.forward(p);                                                  // [S, r, out]
        var delta = h.reshape(samples, -1, lily_B.Rank).bmm(mixed);                     // [S, T, out]
        return delta.view([.. h.shape[..^1], lily_B.OutFeatures]);
    }

    // One mixture per token. Σ_e p_e (h B_e) is computed as one matmul of the [N, E·r] outer
    // product p ⊗ h by the [E·r, d_out] pool, so no [N, E, r, d_out] tensor is ever built and
    // the only extra memory is N·E·r (versus N·E·d_out for mixing the E expert outputs).
    private (Tensor, Tensor) PerToken(Tensor h, Tensor logits)
    {
        int e = lily_B.Experts, r = lily_B.Rank;
        var p = TokenProbabilities(logits).t().reshape(-1, e, 1);                       // [N, E, 1]
        var outer = h.reshape(-1, 1, r).mul(p).reshape(-1, e * r);                      // [N, E·r]
        return (outer, lily_B.Weight);                                                  // · [E·r, out]
    }

    /// <summary>
    /// The batch-mean expert weights p̄ this layer computes for input <paramref name="x"/>
    /// (<c>[E]</c>): the mean over all tokens of <c>softmax(R A x)</c>.
    /// </summary>
    public Tensor MeanRoutingWeights(Tensor x)
    {
        using var scope = NewDisposeScope();
        var logits = lily_router.forward(lily_A.forward(x.to(AdapterDtype)));
        return TokenProbabilities(logits).mean([1]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The update as a weight for fixed expert weights <paramref name="mixture"/> (<c>[E]</c>):
    /// <c>scaling · (Σ_e p_e B_e)ᵀ A</c>, shape <c>[d_out, d_in]</c>. Its rank is at most r.
    /// </summary>
    public Tensor DeltaWeight(Tensor mixture)
    {
        using var scope = NewDisposeScope();
        var combined = lily_B.forward(mixture.to(AdapterDtype));
        return combined.t().matmul(lily_A.weight!).mul_(Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The update's factors at the frozen mixture (<c>B = (Σ_e p_e B_e)ᵀ</c>, <c>A = lily_A.weight</c>),
    /// or null while the router decides: the update then depends on the input (see <see cref="FactorsAt"/>).
    /// </summary>
    public override LowRankUpdate? UpdateFactors() =>
        frozenMixture is null ? null : new(FrozenExpert().t(), lily_A.weight!, Scaling);

    /// <summary>The update's factors at the fixed expert weights <paramref name="mixture"/> (<c>[E]</c>).</summary>
    public LowRankUpdate FactorsAt(double[] mixture)
    {
        ArgumentNullException.ThrowIfNull(mixture);
        var a = lily_A.weight!;
        return new(lily_B.forward(tensor(mixture).to(a.dtype, a.device)).t(), a, Scaling);
    }

    /// <summary>The frozen update <see cref="DeltaWeight"/>(<see cref="FrozenMixture"/>), merged as LoRA merges (see <see cref="FreezeRouting"/>).</summary>
    protected override Tensor MergeDelta() => DeltaWeight(FrozenMixtureFor(lily_A.weight!));

    /// <inheritdoc />
    protected override NotSupportedException CannotMerge() => NotMergeable();

    private static NotSupportedException NotMergeable() => new(
        "Lily adapters cannot be merged into the base weight while they route: each layer's router mixes the B experts " +
        "with weights computed from the input, so the update is not one fixed matrix. Fix the mixture first with " +
        "FreezeRouting (e.g. peft.FreezeRouting(peft.CalibrateRouting(batches))), keep the adapter attached for inference, " +
        "or use LoRA if you need a merged model.");
}
