namespace Lily.TextClassification.Training;

/// <summary>
/// The learning-rate multiplier of BERT fine-tuning (and of Hugging Face's <c>get_linear_schedule_with_warmup</c>):
/// a linear rise over the warm-up steps, then a linear fall to zero at the last step.
/// </summary>
public static class LinearWarmupSchedule
{
    /// <summary>The multiplier for 0-based <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public static double Factor(int step, int totalSteps, int warmupSteps)
    {
        if (step < warmupSteps) return (step + 1.0) / warmupSteps;
        return Math.Max(0.0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmupSteps));
    }
}
