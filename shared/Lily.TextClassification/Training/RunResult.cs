namespace Lily.TextClassification.Training;

/// <summary>One fine-tuning run: what was trained, how, and what it scored.</summary>
/// <param name="Method">The method id (head, full, lora, dora, lily, clora).</param>
/// <param name="Seed">Seeds the head's and adapters' initialisation and the data order.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="Scaling">Lily's or CLoRA's scaling (1 for the others).</param>
/// <param name="Trainable">Parameters that received updates (head included).</param>
/// <param name="Accuracy">Accuracy on the evaluation split (test, or validation while tuning).</param>
/// <param name="Seconds">Wall time of training and evaluation.</param>
/// <param name="StepMilliseconds">Mean wall time of one training step.</param>
/// <param name="CheckpointBytes">Bytes of what must be stored to keep the result: the adapter folder in PEFT's layout (what any PEFT reads), or the trained tensors for head-only and full.</param>
/// <param name="CompactCheckpointBytes">The adapter folder in the library's compact layout (each shared tensor stored once); equal to <paramref name="CheckpointBytes"/> when nothing is shared.</param>
/// <param name="Losses">Training loss at every step.</param>
/// <param name="EffectiveRank">Mean effective rank of the trained ΔW over the adapted layers, when measured (NaN otherwise).</param>
public sealed record RunResult(string Method, int Seed, double LearningRate, double Scaling, long Trainable, double Accuracy,
    double Seconds, double StepMilliseconds, long CheckpointBytes, long CompactCheckpointBytes, IReadOnlyList<double> Losses, double EffectiveRank = double.NaN);
