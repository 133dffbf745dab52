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

    /// <summary>Largest record read: a real one is a few hundred bytes; anything bigger is refused unread.</summary>
    internal const int MaxBytes = 64 * 1024;

    /// <summary>Most entries a record may list (a save writes two files).</summary>
    internal const int MaxEntries = 16;

    /// <summary>Longest name, in UTF-8 bytes, that a record may hold (the usual file-system limit).</summary>
    internal const int MaxNameBytes = 255;

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
    /// <exception cref="InvalidDataException">The path is not a regular file (a symbolic link, a FIFO, ...): it is not hashed.</exception>
    public static (long Length, string Sha256) Measure(string path)
    {
        using var stream = RegularFile.OpenRead(path);
        var hash = SHA256.HashData(stream);
        return (stream.Length, Hex(hash));
    }

    /// <summary>The lower-case hexadecimal SHA-256 of <paramref name="bytes"/>.</summary>
    public static string Sha256Of(ReadOnlySpan<byte> bytes) => Hex(SHA256.HashData(bytes));

    private static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLowerInvariant();

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
        byte[] bytes;
        try
        {
            bytes = RegularFile.ReadAllBytes(path, MaxBytes);
        }
        catch (InvalidDataException e)
        {
            throw Malformed(path, e.Message, e);
        }

        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Malformed(path, "it is not a JSON object");
            if (!root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
                throw Malformed(path, $"its \"format\" is not \"{Format}\"");
            if (!root.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array || files.GetArrayLength() == 0)
                throw Malformed(path, "\"files\" is not a non-empty array");
            if (files.GetArrayLength() > MaxEntries) throw Malformed(path, $"\"files\" lists {files.GetArrayLength()} entries, more than {MaxEntries}");

            var entries = new List<Entry>();
            var finals = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var pendings = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in files.EnumerateArray())
            {
                var entry = ReadEntry(path, file, entries.Count);
                if (!finals.Add(entry.Final)) throw Malformed(path, $"it names the final file '{entry.Final}' twice");
                // Two entries for one pending file would "complete" the second by the first's rename.
                if (!pendings.Add(entry.Pending)) throw Malformed(path, $"it names the pending file '{entry.Pending}' twice");
                entries.Add(entry);
            }

            return new CommitRecord(entries);
        }
        catch (JsonException e)
        {
            throw Malformed(path, $"it is not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            // What System.Text.Json throws for a string that is not valid UTF-8 or holds a lone surrogate escape.
            throw Malformed(path, $"it holds text that is not valid Unicode ({e.Message})", e);
        }
    }

    private static Entry ReadEntry(string path, JsonElement file, int index)
    {
        var where = $"files[{index}]";
        if (file.ValueKind != JsonValueKind.Object) throw Malformed(path, $"{where} is not an object");
        string Text(string name)
        {
            if (!file.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
                throw Malformed(path, $"{where}.{name} is not a non-empty string");
            // Checked before the name is used or echoed: a hostile record must not cost memory or flood a message.
            if (System.Text.Encoding.UTF8.GetByteCount(text) > MaxNameBytes)
                throw Malformed(path, $"{where}.{name} is longer than {MaxNameBytes} bytes");
            return text;
        }

        var pending = Text("pending");
        var final = Text("final");
        var sha = Text("sha256");
        // The names come from disk: a hostile or damaged record must not move files outside the directory.
        if (!IsPlainFileName(pending) || !IsPendingName(pending)) throw Malformed(path, $"{where}.pending '{pending}' is not a pending file name");
        if (!IsPlainFileName(final) || final is FileName or DirectoryLock.FileName) throw Malformed(path, $"{where}.final '{final}' is not a plain file name");
        if (!Sha256Hex().IsMatch(sha)) throw Malformed(path, $"{where}.sha256 is not 64 lower-case hexadecimal digits");
        if (!file.TryGetProperty("length", out var lengthElement) || lengthElement.ValueKind != JsonValueKind.Number
            || !lengthElement.TryGetInt64(out var length) || length < 0)
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
