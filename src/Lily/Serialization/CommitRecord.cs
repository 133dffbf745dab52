using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Lily.Serialization;

/// <summary>
/// The commit record of <see cref="AdapterFilePair"/>: which pending temporary file becomes which final file, with
/// the length and SHA-256 it must have. Its presence on disk is what makes a save committed.
/// </summary>
internal sealed partial class CommitRecord
{
    /// <summary>The record's file name in the directory it governs.</summary>
    public const string FileName = ".lily-commit.json";

    /// <summary>The extension of pending files, distinct from <see cref="AtomicFile"/>'s so recovery never touches those.</summary>
    public const string PendingExtension = ".lily-pending";

    private const string Format = "lily-commit/1";

    /// <summary>One file to move into place.</summary>
    /// <param name="Pending">The temporary file's name.</param>
    /// <param name="Final">The name it is renamed to.</param>
    /// <param name="Length">Its length in bytes.</param>
    /// <param name="Sha256">Its SHA-256, lower-case hexadecimal.</param>
    public sealed record Entry(string Pending, string Final, long Length, string Sha256);

    public CommitRecord(IReadOnlyList<Entry> entries) => Entries = entries;

    /// <summary>The files, in the order they are renamed.</summary>
    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>Whether <paramref name="name"/> looks like a pending file this protocol creates.</summary>
    public static bool IsPendingName(string name) => PendingName().IsMatch(name);

    /// <summary>Whether <paramref name="name"/> is a temporary file left by an interrupted write of the record itself.</summary>
    public static bool IsRecordTempName(string name) =>
        name.StartsWith("." + FileName + ".", StringComparison.Ordinal) && name.EndsWith(AtomicFile.TempExtension, StringComparison.Ordinal);

    /// <summary>The length and lower-case hexadecimal SHA-256 of a file, as it is on disk.</summary>
    public static (long Length, string Sha256) Measure(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        var hash = SHA256.HashData(stream);
        return (stream.Length, Convert.ToHexString(hash).ToLowerInvariant());
    }

    /// <summary>Writes the record atomically (temporary file, flush, rename, directory flush): the commit point.</summary>
    public void Write(string path) => AtomicFile.Write(path, stream =>
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("format", Format);
        json.WriteStartArray("files");
        foreach (var entry in Entries)
        {
            json.WriteStartObject();
            json.WriteString("pending", entry.Pending);
            json.WriteString("final", entry.Final);
            json.WriteNumber("length", entry.Length);
            json.WriteString("sha256", entry.Sha256);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });

    /// <summary>Reads and validates a record.</summary>
    /// <exception cref="InvalidDataException">The record is malformed; the message names the file and the problem.</exception>
    public static CommitRecord Read(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Malformed(path, "it is not a JSON object");
            if (!root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
                throw Malformed(path, $"its \"format\" is not \"{Format}\"");
            if (!root.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array || files.GetArrayLength() == 0)
                throw Malformed(path, "\"files\" is not a non-empty array");

            var entries = new List<Entry>();
            var finals = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in files.EnumerateArray())
            {
                var entry = ReadEntry(path, file, entries.Count);
                if (!finals.Add(entry.Final)) throw Malformed(path, $"it names the final file '{entry.Final}' twice");
                entries.Add(entry);
            }

            return new CommitRecord(entries);
        }
        catch (JsonException e)
        {
            throw Malformed(path, $"it is not valid JSON ({e.Message})", e);
        }
    }

    private static Entry ReadEntry(string path, JsonElement file, int index)
    {
        var where = $"files[{index}]";
        if (file.ValueKind != JsonValueKind.Object) throw Malformed(path, $"{where} is not an object");
        string Text(string name) =>
            file.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
                ? text
                : throw Malformed(path, $"{where}.{name} is not a non-empty string");

        var pending = Text("pending");
        var final = Text("final");
        var sha = Text("sha256");
        // The names come from disk: a hostile or damaged record must not move files outside the directory.
        if (!IsPlainFileName(pending) || !IsPendingName(pending)) throw Malformed(path, $"{where}.pending '{pending}' is not a pending file name");
        if (!IsPlainFileName(final) || final == FileName) throw Malformed(path, $"{where}.final '{final}' is not a plain file name");
        if (!Sha256Hex().IsMatch(sha)) throw Malformed(path, $"{where}.sha256 is not 64 lower-case hexadecimal digits");
        if (!file.TryGetProperty("length", out var lengthElement) || !lengthElement.TryGetInt64(out var length) || length < 0)
            throw Malformed(path, $"{where}.length is not a non-negative integer");
        return new Entry(pending, final, length, sha);
    }

    /// <summary>Whether <paramref name="name"/> names a file directly inside a directory (no directory part, not . or ..).</summary>
    public static bool IsPlainFileName(string name) =>
        name.Length > 0 && name is not ("." or "..") && Path.GetFileName(name) == name
        && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && name.IndexOfAny(['/', '\\']) < 0;

    private static InvalidDataException Malformed(string path, string problem, Exception? inner = null) =>
        new($"The commit record '{path}' is malformed: {problem}. It was left by an interrupted adapter save; the " +
            $"pending files it names ('*{PendingExtension}') are kept. Inspect it, or delete it and those files to " +
            "keep the current files.", inner);

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.lily-pending$", RegexOptions.CultureInvariant)]
    private static partial Regex PendingName();

    [GeneratedRegex("^[0-9a-f]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex Sha256Hex();
}
