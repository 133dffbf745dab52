namespace Lily.FashionMnist;

/// <summary>Everything one Fashion-MNIST run needs (the sample's or an experiment's); <see cref="Quick"/> shrinks it to a smoke test.</summary>
public sealed record FashionMnistOptions
{
    /// <summary>Folder holding the Fashion-MNIST idx files.</summary>
    public string DataFolder { get; init; } = FashionMnistDataset.DefaultFolder;

    /// <summary>Where tables, CSV, markdown, the plot and the adapters are written.</summary>
    public string OutputFolder { get; init; } = "out/fashion-mnist";

    /// <summary>Seeds of the fine-tuning runs (each method runs once per seed).</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1];

    /// <summary>"cpu" or "cuda".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Epochs of pretraining on classes 0–4.</summary>
    public int PretrainEpochs { get; init; } = 4;

    /// <summary>Epochs of each fine-tuning on classes 5–9.</summary>
    public int FineTuneEpochs { get; init; } = 3;

    /// <summary>Training images per split (null: all ~30,000), test images per split (null: all 5,000).</summary>
    public int? TrainSamples { get; init; }

    /// <inheritdoc cref="TrainSamples"/>
    public int? TestSamples { get; init; }

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>LoRA's rank; sets the trainable budget Lily is matched to.</summary>
    public int LoraRank { get; init; } = 4;

    /// <summary>Lily's A stride and expert count; its rank is chosen to match LoRA's budget.</summary>
    public int LilyStrideA { get; init; } = 2;

    /// <inheritdoc cref="LilyStrideA"/>
    public int LilyExperts { get; init; } = 2;

    /// <summary>
    /// Torch CPU threads (0: libtorch's default). One by default: on a 2-core machine libtorch's
    /// default of two threads made epoch times erratic (3.5 s to 65 s for the same epoch) and
    /// slower on average, while one thread was steady at about 1,550 images/s.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>The smoke-test preset: 4,000 training images per split, two epochs each.</summary>
    public FashionMnistOptions Quick() => this with
    {
        PretrainEpochs = 2,
        FineTuneEpochs = 2,
        TrainSamples = 4000,
        TestSamples = 1000,
    };
}
