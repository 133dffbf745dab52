namespace Lily.TextClassification.Training;

/// <summary>How one fine-tuning run trains.</summary>
/// <param name="Epochs">Passes over the training examples.</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="LearningRate">Peak learning rate of AdamW (linear warm-up over the first 10 % of steps, then linear decay to 0).</param>
/// <param name="Seed">Seeds initialisation and data order.</param>
/// <param name="WeightDecay">AdamW's decoupled weight decay.</param>
public sealed record RunSettings(int Epochs, int BatchSize, double LearningRate, int Seed, double WeightDecay = 0.0)
{
    /// <summary>Fraction of the steps spent warming up.</summary>
    public const double WarmupFraction = 0.1;
}
