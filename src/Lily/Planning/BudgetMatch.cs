namespace Lily;

/// <summary>The config <see cref="BudgetMatcher"/> chose and how close it came.</summary>
/// <param name="Config">The base config with the chosen rank (and stride_A / num_B for Lily).</param>
/// <param name="Trainable">Its trainable count, from <see cref="PeftPlan"/>.</param>
/// <param name="Budget">The budget asked for.</param>
/// <param name="RelativeGap"><c>(Trainable − Budget) / Budget</c>: negative under the budget, positive over it.</param>
public sealed record BudgetMatch(PeftConfig Config, long Trainable, long Budget, double RelativeGap);
