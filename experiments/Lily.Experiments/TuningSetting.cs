using Lily.FashionMnist;
using Lily.Planning;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>One point of a method's tuning grid: the config to train (before its scaling is set) and the optimiser's rate.</summary>
/// <param name="Config">The method's config at this grid point (CLoRA: its p and SADE weight, rank matched to the budget for that p).</param>
/// <param name="Match">The budget match behind <paramref name="Config"/> (null for LoRA, the budget's reference).</param>
/// <param name="LearningRate">AdamW's learning rate.</param>
/// <param name="Scaling">The method's <c>scaling</c> (Lily and CLoRA; 1 for LoRA and DoRA).</param>
/// <param name="Bases">CLoRA's p (null for the other methods).</param>
/// <param name="SadeWeight">CLoRA + SADE's weight (null for the other methods).</param>
public sealed record TuningSetting(PeftConfig Config, BudgetMatch? Match, double LearningRate, double Scaling, int? Bases, double? SadeWeight);
