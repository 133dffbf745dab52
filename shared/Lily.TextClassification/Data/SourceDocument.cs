namespace Lily.TextClassification.Data;

/// <summary>A labelled source document and the examples cut from it.</summary>
/// <param name="DocumentId">Unique per document.</param>
/// <param name="GroupKey">Documents with equal keys always land on the same side of a split.</param>
/// <param name="Label">The class index.</param>
/// <param name="Texts">The document's examples (one for an email; several chunks for a Brown file).</param>
public sealed record SourceDocument(string DocumentId, string GroupKey, int Label, IReadOnlyList<string> Texts);
