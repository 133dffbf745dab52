using Lily.Bert.Tokenization;
using Lily.TextClassification.Data;
using Lily.TextClassification.Training;

namespace Lily.Experiments.Text;

/// <summary>One task of the study, tokenized: the 1,000 examples (and their 800/200 tuning split) and the test examples.</summary>
public sealed class StudyTaskData : IDisposable
{
    /// <summary>Draws the 1k view of <paramref name="task"/> and tokenizes it.</summary>
    public StudyTaskData(TextTask task, TextEncoder encoder, StudyOptions options)
    {
        var few = task.FewShot(options.Examples, options.ValidationFraction, seed: 0);
        Name = task.Name;
        Labels = task.LabelNames.Count;
        var test = task.Test.Count <= options.TestExamples ? task.Test : DocumentSplit.DrawStratified(task.Test, options.TestExamples, Labels, seed: 0);
        TuneTrain = Encoding.Of(encoder, few.Train, options.MaxLength);
        Validation = Encoding.Of(encoder, few.Validation, options.MaxLength);
        Train = Encoding.Of(encoder, few.Train.Concat(few.Validation).ToList(), options.MaxLength);
        Test = Encoding.Of(encoder, test, options.MaxLength);
        MajorityRate = test.GroupBy(e => e.Label).Max(g => g.Count()) / (double)test.Count;
    }

    /// <summary>The task's name.</summary>
    public string Name { get; }

    /// <summary>Number of classes.</summary>
    public int Labels { get; }

    /// <summary>Tuning: the training part of the 1,000.</summary>
    public EncodedExamples TuneTrain { get; }

    /// <summary>Tuning: the validation part of the 1,000.</summary>
    public EncodedExamples Validation { get; }

    /// <summary>All 1,000, for the test runs.</summary>
    public EncodedExamples Train { get; }

    /// <summary>The test examples.</summary>
    public EncodedExamples Test { get; }

    /// <summary>The share of the most frequent class in the test examples.</summary>
    public double MajorityRate { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        TuneTrain.Dispose();
        Validation.Dispose();
        Train.Dispose();
        Test.Dispose();
    }
}
