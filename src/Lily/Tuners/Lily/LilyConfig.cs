namespace Lily;

/// <summary>
/// Lily: low-rank interconnected adaptation across layers (arXiv 2407.09946). Layers of one target
/// type share their down-projections A (one per block of <see cref="StrideA"/> consecutive layers)
/// and one pool of <see cref="NumB"/> up-projection experts B; each layer routes between the
/// experts with its own router. Defaults are PEFT's <c>LilyConfig</c>: r = 32, stride_A = 1,
/// num_B = 2, scaling = 1.
/// </summary>
public sealed record LilyConfig : PeftConfig
{
    /// <summary>Rank of the shared A and of each expert B. PEFT's <c>r</c>; at least 1.</summary>
    public int R { get; init; } = 32;

    /// <summary>How many consecutive layers of one target type share one A. PEFT's <c>stride_A</c>; at least 1.</summary>
    public int StrideA { get; init; } = 1;

    /// <summary>Number of B experts in each target type's pool. PEFT's <c>num_B</c>; at least 2.</summary>
    public int NumB { get; init; } = 2;

    /// <summary>Plain multiplier of the adapter's output (no alpha / r). PEFT's <c>scaling</c>.</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>
    /// Start B at zero so the adapter starts as a no-op (PEFT's <c>init_weights</c>, default true);
    /// false draws B kaiming-uniform, which is useful only for tests and experiments.
    /// </summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>
    /// How router logits become expert weights. Not part of PEFT's config (PEFT always uses
    /// <see cref="LilyRouting.BatchMean"/>); saved as an extra field that PEFT ignores.
    /// </summary>
    public LilyRouting Routing { get; init; } = LilyRouting.BatchMean;

    /// <inheritdoc />
    public override string PeftType => "LILY";

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Require(R >= 1, nameof(R), $"must be at least 1 (got {R}).");
        Require(StrideA >= 1, nameof(StrideA), $"must be at least 1 (got {StrideA}).");
        Require(NumB >= 2, nameof(NumB), $"must be at least 2: a single expert leaves nothing to route (got {NumB}).");
        Require(double.IsFinite(Scaling), nameof(Scaling), $"must be finite (got {Scaling}).");
        Require(Enum.IsDefined(Routing), nameof(Routing), $"is not a known routing mode ({Routing}).");
    }

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new LilyBuilder(this);
}
