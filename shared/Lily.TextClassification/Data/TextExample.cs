namespace Lily.TextClassification.Data;

/// <summary>One labelled text.</summary>
/// <param name="Text">The text the model sees.</param>
/// <param name="Label">The class index into <see cref="TextTask.LabelNames"/>.</param>
/// <param name="DocumentId">The source document (an email; a Brown file), unique per document.</param>
/// <param name="GroupKey">
/// What decides the split side: documents sharing it land together (an email's MD5, so identical emails do;
/// a Brown file's id, so all its chunks do).
/// </param>
public sealed record TextExample(string Text, int Label, string DocumentId, string GroupKey);
