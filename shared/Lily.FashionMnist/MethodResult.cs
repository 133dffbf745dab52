namespace Lily.FashionMnist;

/// <summary>One fine-tuning run: what was trained, how well, how fast, how big.</summary>
/// <param name="Method">head, lora, lily, lily-per-sample, lily-per-token or full.</param>
/// <param name="Seed">The fine-tuning seed.</param>
/// <param name="Rank">The adapter rank (0 where there is none).</param>
/// <param name="TrainableParameters">Trained elements, each tensor once (head included).</param>
/// <param name="AdapterParameters">Of those, the adapter's own (head excluded).</param>
/// <param name="TestAccuracy">Accuracy on the held-out test images of classes 5–9 after the last epoch.</param>
/// <param name="Seconds">Wall time of the fine-tuning (training and per-epoch evaluation).</param>
/// <param name="FileBytes">Size of what must be saved to reproduce the run: the adapter files in PEFT's layout, or the trained tensors.</param>
/// <param name="CompactFileBytes">The same with the compact layout (shared tensors once).</param>
/// <param name="AccuracyPerEpoch">Test accuracy after each epoch: the learning curve.</param>
public sealed record MethodResult(
    string Method, int Seed, int Rank, long TrainableParameters, long AdapterParameters,
    double TestAccuracy, double Seconds, long FileBytes, long CompactFileBytes, IReadOnlyList<double> AccuracyPerEpoch);
