using Lily.FashionMnist;

namespace Lily.Experiments.FashionMnist;

/// <summary>What the budget sweep runs (the data, epochs, seeds and experts come from <see cref="FashionMnistOptions"/>).</summary>
public sealed record SweepOptions
{
    /// <summary>The variants to run (keys of <see cref="SweepPlan.Variants"/>).</summary>
    public IReadOnlyList<string> Variants { get; init; } = ["all-targets", "attention-only", "deep-all-targets"];

    /// <summary>
    /// The methods to run at each budget (<c>lora</c>, <c>dora</c>, <c>lily</c>, <c>clora</c>,
    /// <c>clora-sade</c>); LoRA is always among them, as the reference every row is compared with.
    /// </summary>
    public IReadOnlyList<string> Methods { get; init; } = ["lora", "dora", "lily", "clora", "clora-sade"];

    /// <summary>LoRA's ranks; each sets one budget.</summary>
    public IReadOnlyList<int> LoraRanks { get; init; } = [1, 2, 4, 8, 16];

    /// <summary>Lily's stride_A in the sweep (1: one A per layer).</summary>
    public int StrideA { get; init; } = 1;

    /// <summary>CLoRA's number of shared base pairs p in the sweep.</summary>
    public int CLoraBases { get; init; } = 4;

    /// <summary>CLoRA's SADE weight for the <c>clora-sade</c> runs (0: no SADE runs).</summary>
    public double SadeWeight { get; init; } = 0.1;

    /// <summary>The budget (LoRA rank) whose first-seed layers go into the effective-rank and routing plots.</summary>
    public int AnalysisRank { get; init; } = 4;

    /// <summary>
    /// Learning rates to tune each method over on a validation split (<see cref="TunedSweep"/>); empty (the
    /// default): no tuning, every adapter at <see cref="FineTuning.DefaultLearningRate"/>.
    /// </summary>
    public IReadOnlyList<double> TuneLearningRates { get; init; } = [];

    /// <summary>With tuning: Lily's and CLoRA's <c>scaling</c> grid, crossed with the learning rates (LoRA and DoRA keep alpha / r).</summary>
    public IReadOnlyList<double> TuneScaling { get; init; } = [1.0];

    /// <summary>
    /// With tuning: CLoRA's numbers of shared base pairs p to tune over (for <c>clora</c> and <c>clora-sade</c>,
    /// each p matched to the budget on its own); empty (the default): <see cref="CLoraBases"/> only.
    /// </summary>
    public IReadOnlyList<int> TuneCLoraBases { get; init; } = [];

    /// <summary>With tuning: SADE weights to tune <c>clora-sade</c> over (each &gt; 0); empty (the default): <see cref="SadeWeight"/> only.</summary>
    public IReadOnlyList<double> TuneSadeWeights { get; init; } = [];

    /// <summary>The p grid the tuning uses: <see cref="TuneCLoraBases"/>, or <see cref="CLoraBases"/> alone.</summary>
    public IReadOnlyList<int> CLoraBasesGrid => TuneCLoraBases.Count > 0 ? TuneCLoraBases : [CLoraBases];

    /// <summary>The SADE-weight grid the tuning uses: <see cref="TuneSadeWeights"/>, or <see cref="SadeWeight"/> alone.</summary>
    public IReadOnlyList<double> SadeWeightGrid => TuneSadeWeights.Count > 0 ? TuneSadeWeights : [SadeWeight];

    /// <summary>With tuning: the share of each class of the training images held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.2;

    /// <summary>The smoke-test preset: two budgets of the first variant, every method.</summary>
    public SweepOptions Quick() => this with { Variants = [Variants[0]], LoraRanks = new[] { 1, AnalysisRank }.Distinct().ToList() };
}
