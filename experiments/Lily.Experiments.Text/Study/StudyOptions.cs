using Lily.TextClassification.Methods;

namespace Lily.Experiments.Text;

/// <summary>
/// The 1k study's grid and protocol (after VTAB-1k: 1,000 training examples per task). Each method's learning
/// rate (and Lily's scaling, CLoRA's p) is tuned with the first seed on 800 training / 200 validation examples
/// drawn from the 1,000 by document; the chosen setting then trains on all 1,000 once per seed and is scored on
/// the task's test split, which tuning never sees.
/// </summary>
public sealed record StudyOptions
{
    /// <summary>Backbones (bundled checkpoints) to fine-tune: minilm, arctic.</summary>
    public IReadOnlyList<string> Backbones { get; init; } = ["minilm", "arctic"];

    /// <summary>Tasks for the first backbone; later backbones run <see cref="SecondBackboneTasks"/>.</summary>
    public IReadOnlyList<string> Tasks { get; init; } = ["spam", "brown"];

    /// <summary>Tasks for backbones after the first.</summary>
    public IReadOnlyList<string> SecondBackboneTasks { get; init; } = ["spam"];

    /// <summary>Only these tasks (null: every task above). Two processes given disjoint tasks can share one output folder.</summary>
    public IReadOnlyList<string>? OnlyTasks { get; init; }

    /// <summary>Target sets (<see cref="TargetSet"/>).</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["qv", "all"];

    /// <summary>Target sets for backbones after the first.</summary>
    public IReadOnlyList<string> SecondBackboneTargets { get; init; } = ["qv"];

    /// <summary>PEFT methods compared at LoRA's budget.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["lora", "lily", "clora", "dora"];

    /// <summary>Whether head-only and full fine-tuning run as references (tuned the same way).</summary>
    public bool References { get; init; } = true;

    /// <summary>LoRA's rank, which sets the budget.</summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>Learning rates tried for the PEFT methods.</summary>
    public IReadOnlyList<double> AdapterLearningRates { get; init; } = [5e-4, 2e-3];

    /// <summary>Learning rates tried for full fine-tuning.</summary>
    public IReadOnlyList<double> FullLearningRates { get; init; } = [3e-5, 1e-4];

    /// <summary>Learning rates tried for the head alone.</summary>
    public IReadOnlyList<double> HeadLearningRates { get; init; } = [2e-3, 1e-2];

    /// <summary>Lily's scalings tried (CLoRA keeps scaling 1 and tunes p).</summary>
    public IReadOnlyList<double> Scalings { get; init; } = [1, 2];

    /// <summary>CLoRA's p (base pairs) tried, each matched to the budget again.</summary>
    public IReadOnlyList<int> CLoraBases { get; init; } = [2, 4];

    /// <summary>Seeds of the test runs; the first also tunes.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1, 2, 3];

    /// <summary>Training examples per task.</summary>
    public int Examples { get; init; } = 1000;

    /// <summary>Of those, the fraction held out for validation while tuning.</summary>
    public double ValidationFraction { get; init; } = 0.2;

    /// <summary>Test examples per task (drawn stratified from the test split; all when larger than it).</summary>
    public int TestExamples { get; init; } = 500;

    /// <summary>Passes over the training examples.</summary>
    public int Epochs { get; init; } = 2;

    /// <summary>Examples per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Word pieces per example, [CLS] and [SEP] included.</summary>
    public int MaxLength { get; init; } = 64;
}
