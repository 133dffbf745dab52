using Lily.FashionMnist;

namespace Lily.Experiments.FashionMnist;

/// <summary>One point of a method's tuning grid at one budget, scored on the validation split.</summary>
/// <param name="Variant">Which layers were adapted.</param>
/// <param name="LoraRank">The LoRA rank that set the budget.</param>
/// <param name="Method"><c>lora</c>, <c>dora</c>, <c>lily</c>, <c>clora</c> or <c>clora-sade</c>.</param>
/// <param name="LearningRate">AdamW's learning rate.</param>
/// <param name="Scaling">The method's <c>scaling</c> (Lily's grid; 1 for the others, whose scale is alpha/r or fixed).</param>
/// <param name="Seed">The tuning seed.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation split after the last epoch.</param>
/// <param name="Bases">CLoRA's number of shared base pairs p (null for the other methods).</param>
/// <param name="SadeWeight">CLoRA + SADE's SADE weight (null for the other methods).</param>
public sealed record TuningTrial(string Variant, int LoraRank, string Method, double LearningRate, double Scaling, int Seed, double ValidationAccuracy,
    int? Bases = null, double? SadeWeight = null)
{
    /// <summary>
    /// The trial with the highest validation accuracy; on a tie the first in grid order (the grid lists
    /// smaller learning rates first, so a tie keeps the gentler rate).
    /// </summary>
    /// <exception cref="ArgumentException">No trials.</exception>
    public static TuningTrial Best(IEnumerable<TuningTrial> trials)
    {
        ArgumentNullException.ThrowIfNull(trials);
        TuningTrial? best = null;
        foreach (var t in trials)
            if (best is null || t.ValidationAccuracy > best.ValidationAccuracy) best = t;
        return best ?? throw new ArgumentException("No tuning trials to choose from.", nameof(trials));
    }
}
