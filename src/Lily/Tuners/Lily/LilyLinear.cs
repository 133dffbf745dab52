using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// A Linear layer with a Lily update. With <c>h = A x</c> and router probabilities
/// <c>p = softmax(R h)</c>: <c>y = W x + b + scaling · h Σ_e p̄_e B_e</c>, where p̄ depends on
/// <see cref="Routing"/> (the batch mean of p by default, as PEFT computes).
/// </summary>
/// <remarks>
/// <c>lily_A</c> (a shared <see cref="Linear"/>, <c>[r, d_in]</c>) and <c>lily_B</c> (a shared
/// <see cref="LilyExpertPool"/>) are the same module objects in every layer that shares them, so
/// each is one tensor whose gradient sums the contributions of all its layers. <c>lily_router</c>
/// (<c>[E, r]</c>) is this layer's own. Lily cannot be merged into W: the mixture depends on the input.
/// </remarks>
public sealed class LilyLinear : AdapterLinear
{
    private readonly Linear lily_A;
    private readonly LilyExpertPool lily_B;
    private readonly Linear lily_router;

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

    /// <inheritdoc />
    public override ScalarType AdapterDtype => lily_A.weight!.dtype;

    /// <inheritdoc />
    public override bool CanMerge => false;

    /// <inheritdoc />
    protected override Tensor Delta(Tensor x)
    {
        var h = lily_A.forward(x);
        var logits = lily_router.forward(h);
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
        if (Routing == LilyRouting.PerSample) return base.AddDelta(result, x);
        var h = lily_A.forward(x);
        var (left, right) = Factors(h, lily_router.forward(h));
        return result.addmm_(left, right, beta: 1, alpha: (float)Scaling);
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

    /// <summary>Lily cannot be merged: the expert mixture depends on the input.</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    public override void Merge() => throw NotMergeable();

    /// <summary>Lily is never merged, so there is nothing to unmerge.</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    public override void Unmerge() => throw NotMergeable();

    private static NotSupportedException NotMergeable() => new(
        "Lily adapters cannot be merged into the base weight: each layer's router mixes the B experts " +
        "with weights computed from the input, so the update is not one fixed matrix. Keep the adapter " +
        "attached for inference, or use LoRA if you need a merged model.");
}
