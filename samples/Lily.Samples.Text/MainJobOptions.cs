namespace Lily.Samples.Text;

/// <summary>The main job's settings (the command line's defaults; <see cref="Quick"/> for CI's smoke run).</summary>
public sealed record MainJobOptions
{
    /// <summary>The pretrained encoder: minilm or arctic.</summary>
    public string Backbone { get; init; } = "minilm";

    /// <summary>The task: spam or brown.</summary>
    public string Task { get; init; } = "spam";

    /// <summary>Methods to run, in order.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["head", "lora", "lily", "full"];

    /// <summary>Target set of the PEFT methods (qv or all).</summary>
    public string Targets { get; init; } = "qv";

    /// <summary>LoRA's rank, which sets the budget the other methods are matched to.</summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>Training examples, drawn stratified from the training documents.</summary>
    public int TrainExamples { get; init; } = 500;

    /// <summary>Test examples, drawn stratified from the test documents (all when larger).</summary>
    public int TestExamples { get; init; } = 500;

    /// <summary>Passes over the training examples.</summary>
    public int Epochs { get; init; } = 2;

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Word pieces per example.</summary>
    public int MaxLength { get; init; } = 64;

    /// <summary>Seeds; each method runs once per seed.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1];

    /// <summary>Learning rate per method (overridden by --lr for all).</summary>
    public IReadOnlyDictionary<string, double> LearningRates { get; init; } = DefaultLearningRates;

    /// <summary>Lily's and CLoRA's scaling.</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>Torch CPU threads (0: libtorch's default, every core).</summary>
    public int Threads { get; init; }

    /// <summary>Where results go.</summary>
    public string OutputFolder { get; init; } = "out/text";

    /// <summary>Where the npm datasets are cached (null: the default cache).</summary>
    public string? DataFolder { get; init; }

    /// <summary>The learning rates the sample uses unless told otherwise, per method: for the adapters the larger of the
    /// 1k study's two grid points, which its tuning chose for LoRA on SpamAssassin (docs/bert.md).</summary>
    public static IReadOnlyDictionary<string, double> DefaultLearningRates { get; } = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["head"] = 1e-2,
        ["lora"] = 2e-3,
        ["dora"] = 2e-3,
        ["lily"] = 2e-3,
        ["clora"] = 2e-3,
        ["full"] = 1e-4,
    };

    /// <summary>CI's smoke run: 96 training and 96 test examples, 64 word pieces, one epoch.</summary>
    public MainJobOptions Quick() => this with { TrainExamples = 96, TestExamples = 96, MaxLength = 64, Epochs = 1 };
}
