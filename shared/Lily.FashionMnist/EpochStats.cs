namespace Lily.FashionMnist;

/// <summary>What one training epoch did.</summary>
/// <param name="MeanLoss">Cross-entropy averaged over all samples of the epoch.</param>
/// <param name="TrainAccuracy">Fraction of samples classified correctly during training (the model changes as it goes).</param>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="Samples">Samples seen.</param>
/// <param name="Elapsed">Wall-clock time of the epoch.</param>
public sealed record EpochStats(double MeanLoss, double TrainAccuracy, int Steps, long Samples, TimeSpan Elapsed)
{
    /// <summary>Samples per second, for comparing settings and machines.</summary>
    public double SamplesPerSecond => Elapsed > TimeSpan.Zero ? Samples / Elapsed.TotalSeconds : 0;
}
