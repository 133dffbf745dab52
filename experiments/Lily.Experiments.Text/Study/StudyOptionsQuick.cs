namespace Lily.Experiments.Text;

/// <summary>The study in miniature for CI: every code path (tuning, test seeds, report, plot) on a few examples.</summary>
public static class StudyOptionsQuick
{
    /// <summary>One backbone, the spam task, query/value targets, LoRA and Lily, two grid points, two seeds, 64 examples.</summary>
    public static StudyOptions Of(StudyOptions options) => options with
    {
        Backbones = ["minilm"],
        Tasks = ["spam"],
        Targets = ["qv"],
        Methods = ["lora", "lily"],
        References = false,
        AdapterLearningRates = [1e-3],
        Scalings = [1, 2],
        Seeds = [1, 2],
        Examples = 64,
        TestExamples = 64,
        Epochs = 1,
        MaxLength = 32,
    };
}
