namespace Lily.TextClassification.Data;

/// <summary>A text-classification task: label names and train / validation / test examples, split by document.</summary>
public sealed class TextTask
{
    /// <summary>Creates a task.</summary>
    /// <param name="name">A short name, e.g. <c>spam</c>.</param>
    /// <param name="labelNames">The class names, indexed by label.</param>
    /// <param name="train">Training examples.</param>
    /// <param name="validation">Tuning examples (never test documents).</param>
    /// <param name="test">Held-out examples.</param>
    public TextTask(
        string name,
        IReadOnlyList<string> labelNames,
        IReadOnlyList<TextExample> train,
        IReadOnlyList<TextExample> validation,
        IReadOnlyList<TextExample> test)
    {
        Name = name;
        LabelNames = labelNames;
        Train = train;
        Validation = validation;
        Test = test;
    }

    /// <summary>The task's name.</summary>
    public string Name { get; }

    /// <summary>The class names, indexed by label.</summary>
    public IReadOnlyList<string> LabelNames { get; }

    /// <summary>Training examples.</summary>
    public IReadOnlyList<TextExample> Train { get; }

    /// <summary>Validation examples, for tuning.</summary>
    public IReadOnlyList<TextExample> Validation { get; }

    /// <summary>Test examples.</summary>
    public IReadOnlyList<TextExample> Test { get; }

    /// <summary>
    /// Builds a task from documents: per class, <paramref name="testFraction"/> of the groups go to test and
    /// <paramref name="validationFraction"/> to validation, chosen by a stable hash of the group key
    /// (<see cref="DocumentSplit.AssignSides"/>).
    /// </summary>
    /// <param name="name">The task's name.</param>
    /// <param name="labelNames">The class names.</param>
    /// <param name="documents">The documents, in any order.</param>
    /// <param name="testFraction">The test share.</param>
    /// <param name="validationFraction">The validation share.</param>
    /// <returns>The task.</returns>
    public static TextTask FromDocuments(
        string name,
        IReadOnlyList<string> labelNames,
        IEnumerable<SourceDocument> documents,
        double testFraction = DocumentSplit.DefaultTestFraction,
        double validationFraction = DocumentSplit.DefaultValidationFraction)
    {
        var all = documents.ToList();
        var sides = DocumentSplit.AssignSides(all, testFraction, validationFraction);
        var train = new List<TextExample>();
        var validation = new List<TextExample>();
        var test = new List<TextExample>();
        // Ordinal order by id makes the lists independent of the order the files were listed in.
        foreach (var document in all.OrderBy(d => d.DocumentId, StringComparer.Ordinal))
        {
            var target = sides[document.GroupKey] switch
            {
                SplitSide.Test => test,
                SplitSide.Validation => validation,
                _ => train,
            };
            target.AddRange(document.Texts.Select(t => new TextExample(t, document.Label, document.DocumentId, document.GroupKey)));
        }

        return new TextTask(name, labelNames, train, validation, test);
    }

    /// <summary>
    /// The few-data view: exactly <paramref name="count"/> examples drawn from this task's training side (train and
    /// validation), stratified by label, then re-split by group into train and validation; the test set is unchanged.
    /// </summary>
    /// <param name="count">How many examples (default 1,000).</param>
    /// <param name="validationFraction">The share of the drawn examples carved out for validation (by group).</param>
    /// <param name="seed">Changes which examples are drawn.</param>
    /// <returns>The view, named <c>{Name}-1k</c> for 1,000.</returns>
    public TextTask FewShot(int count = 1000, double validationFraction = 0.2, int seed = 0)
    {
        var pool = Train.Concat(Validation).ToList();
        var drawn = DocumentSplit.DrawStratified(pool, count, LabelNames.Count, seed);
        var (train, validation) = DocumentSplit.CarveValidation(drawn, validationFraction, LabelNames.Count, seed);
        var suffix = count % 1000 == 0 ? $"{count / 1000}k" : count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new TextTask($"{Name}-{suffix}", LabelNames, train, validation, Test);
    }
}
