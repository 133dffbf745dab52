using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// What the shared tools need from an adapter layer whose update mixes E experts with weights a router
/// computes from the input (Lily, a mixture of LoRA experts): the capability is declared by the layer,
/// so routing calibration, freezing, low-rank export, inspection and the data-parallel batch check work
/// for any method that implements it, without naming the method.
/// </summary>
/// <remarks>
/// Implemented by an <see cref="AdapterLinear"/>. A mixture is a vector of E expert weights; at a fixed
/// mixture the update must be one low-rank product (<see cref="FactorsAt"/>), so freezing the routing
/// makes the layer mergeable and exportable. The router's output that the tools observe is the
/// per-token probability of each expert (rows summing to 1), whose mean over a dataset is the mixture
/// they calibrate.
/// </remarks>
public interface IRoutedAdapter
{
    /// <summary>The number of experts E: the length of every mixture and of every routing row.</summary>
    int Experts { get; }

    /// <summary>The frozen expert weights <c>[E]</c> as a copy, or null while the router decides.</summary>
    double[]? FrozenMixture { get; }

    /// <summary>
    /// Whether, while the router decides, one mixture is computed from every token of the batch, so a
    /// sample's output depends on the other samples in its batch (Lily's default batch-mean routing).
    /// Splitting such a batch across processes changes the result; data-parallel training warns of it.
    /// </summary>
    bool MixesAcrossBatch { get; }

    /// <summary>
    /// Fixes the expert weights to <paramref name="mixture"/> (<c>[E]</c>, copied), whatever the router
    /// says: the update becomes the fixed product <see cref="FactorsAt"/>(<paramref name="mixture"/>) and
    /// the layer can be merged. The router is kept; <see cref="UnfreezeRouting"/> gives it control back.
    /// </summary>
    /// <exception cref="ArgumentException">Not a finite floating-point vector of length E.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged.</exception>
    void FreezeRouting(Tensor mixture);

    /// <summary>Gives control back to the router (a no-op when routing is not frozen).</summary>
    /// <exception cref="InvalidOperationException">The layer is merged.</exception>
    void UnfreezeRouting();

    /// <summary>
    /// The update at the fixed expert weights <paramref name="mixture"/> (<c>[E]</c>, not required to sum
    /// to 1) as a low-rank product <c>Scaling · B · A</c>, built in the caller's dispose scope.
    /// </summary>
    LowRankUpdate FactorsAt(double[] mixture);

    /// <summary>
    /// Called, only while set, with the per-token router probabilities (<c>[N, E]</c>, each row summing
    /// to 1) of every input the layer adapts, also while routing is frozen (the router then runs for the
    /// observer alone). The tensor is freed when the observer returns. Null, the default, costs nothing.
    /// Shared code sets it for the length of one pass and restores the previous value afterwards.
    /// </summary>
    Action<Tensor>? RoutingObserver { get; set; }
}
