using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Lily.Serialization;

/// <summary>
/// The JSON header of a safetensors file: parsing with full validation, and building it for the writer.
/// </summary>
/// <remarks>
/// Layout of a file: an unsigned 64-bit little-endian N, then N bytes of UTF-8 JSON, then the data section.
/// The JSON object maps each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> with offsets
/// relative to the data section, plus an optional <c>"__metadata__"</c> object of string values.
/// </remarks>
internal sealed class SafeTensorsHeader
{
    /// <summary>The largest header accepted, the same 100 MB cap as the reference implementation.</summary>
    public const int MaxHeaderLength = 100_000_000;

    /// <summary>The size of the length prefix.</summary>
    public const int PrefixLength = 8;

    private SafeTensorsHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensorHeaderEntry> entries)
    {
        Metadata = metadata;
        Entries = entries;
    }

    /// <summary>The <c>__metadata__</c> strings, empty when the header has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in header order, already checked against the data section.</summary>
    public IReadOnlyList<SafeTensorHeaderEntry> Entries { get; }

    /// <summary>
    /// Checks the declared header length against the cap and the bytes actually present, before anything is
    /// allocated from it.
    /// </summary>
    /// <param name="prefix">The first 8 bytes of the file.</param>
    /// <param name="totalLength">The length of the whole file, prefix included.</param>
    /// <param name="source">The file name for messages.</param>
    /// <returns>The header length, now known to be safe to allocate.</returns>
    public static int ReadHeaderLength(ReadOnlySpan<byte> prefix, long totalLength, string source)
    {
        var declared = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (declared > MaxHeaderLength)
        {
            throw SafeTensorsFormatException.Create(source, null,
                $"the 8-byte prefix declares a header of {declared} bytes, over the {MaxHeaderLength}-byte limit (is this a safetensors file?)");
        }

        var available = totalLength - PrefixLength;
        if ((long)declared > available)
        {
            throw SafeTensorsFormatException.Create(source, null,
                $"the 8-byte prefix declares a header of {declared} bytes, but only {available} bytes follow it (the file is truncated or not a safetensors file)");
        }

        return (int)declared;
    }

    /// <summary>Parses and validates the header JSON against a data section of <paramref name="dataLength"/> bytes.</summary>
    /// <param name="json">The header bytes (padding included).</param>
    /// <param name="dataLength">The size of the data section that follows the header.</param>
    /// <param name="source">The file name for messages.</param>
    /// <returns>The validated header.</returns>
    /// <exception cref="SafeTensorsFormatException">Anything is wrong; the message says what and where.</exception>
    public static SafeTensorsHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string source)
    {
        // System.Text.Json does not reject every invalid UTF-8 sequence up front (it may only notice when a string is
        // decoded), so check the whole header first for one clear message.
        if (!Utf8.IsValid(json.Span))
        {
            throw SafeTensorsFormatException.Create(source, null, "the header is not valid UTF-8");
        }

        // The reference implementation requires the header to start with '{' (no BOM, no leading whitespace).
        if (json.Length == 0 || json.Span[0] != (byte)'{')
        {
            var first = json.Length == 0 ? (byte)0 : json.Span[0];
            var start = json.Length == 0 ? "nothing (it is empty)" : first is >= 0x21 and < 0x7F ? $"'{(char)first}'" : $"byte 0x{first:X2}";
            throw SafeTensorsFormatException.Create(source, null, $"the header is not a JSON object: it must start with '{{' but starts with {start}");
        }

        JsonDocument document;
        try
        {
            // Strict JSON: no comments, no trailing commas. The default depth limit (64) bounds recursion.
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
        }
        catch (JsonException exception)
        {
            throw SafeTensorsFormatException.Create(source, null, $"the header is not valid JSON: {exception.Message}", exception);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw SafeTensorsFormatException.Create(source, null, $"the header is a JSON {Describe(root.ValueKind)}, not an object");
            }

            IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorHeaderEntry>();
            // JsonDocument keeps duplicate keys, and which one a reader honours differs between parsers, so a file
            // with duplicates could mean different things to different tools: reject it.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw property.Name == SafeTensorEntry.MetadataKey
                        ? SafeTensorsFormatException.Create(source, null, $"the header has the key '{SafeTensorEntry.MetadataKey}' twice")
                        : SafeTensorsFormatException.Create(source, property.Name, "appears twice in the header");
                }

                if (property.Name == SafeTensorEntry.MetadataKey)
                {
                    metadata = ParseMetadata(property.Value, source);
                }
                else
                {
                    entries.Add(ParseEntry(property.Name, property.Value, dataLength, source));
                }
            }

            CheckLayout(entries, dataLength, source);
            return new SafeTensorsHeader(metadata, entries);
        }
    }

    /// <summary>
    /// Builds the header JSON, padded with spaces to a multiple of 8 bytes so the data section (and so every
    /// tensor, given the alignment-descending order) starts aligned, as the reference implementation does.
    /// </summary>
    /// <param name="entries">The tensors in file order, with their offsets.</param>
    /// <param name="metadata">The metadata strings; omitted from the JSON when empty.</param>
    /// <returns>The padded header bytes, without the length prefix.</returns>
    public static byte[] Build(IReadOnlyList<SafeTensorHeaderEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping writes non-ASCII names as UTF-8 instead of \uXXXX escapes, like serde_json; the HTML-safety
        // the default encoder adds is irrelevant for a file header.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata.Count > 0)
            {
                writer.WriteStartObject(SafeTensorEntry.MetadataKey);
                // Sorted so the same metadata always produces the same bytes, whatever dictionary it came in.
                foreach (var pair in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    writer.WriteString(pair.Key, pair.Value);
                }

                writer.WriteEndObject();
            }

            foreach (var entry in entries)
            {
                writer.WriteStartObject(entry.Name);
                writer.WriteString("dtype", entry.DType.ToHeaderString());
                writer.WriteStartArray("shape");
                foreach (var dimension in entry.Shape)
                {
                    writer.WriteNumberValue(dimension);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(entry.Begin);
                writer.WriteNumberValue(entry.End);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        var length = buffer.WrittenCount;
        var padded = checked(length + ((8 - (length % 8)) % 8));
        if (padded > MaxHeaderLength)
        {
            throw new InvalidOperationException($"The safetensors header would be {padded} bytes, over the {MaxHeaderLength}-byte limit readers enforce.");
        }

        var result = new byte[padded];
        buffer.WrittenSpan.CopyTo(result);
        result.AsSpan(length).Fill((byte)' ');
        return result;
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement element, string source)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (element.ValueKind == JsonValueKind.Null)
        {
            // The reference implementation reads "__metadata__": null as "no metadata".
            return metadata;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw SafeTensorsFormatException.Create(source, null,
                $"'{SafeTensorEntry.MetadataKey}' is a JSON {Describe(element.ValueKind)}, not an object of strings");
        }

        foreach (var property in element.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw SafeTensorsFormatException.Create(source, null,
                    $"'{SafeTensorEntry.MetadataKey}' key '{property.Name}' has a JSON {Describe(property.Value.ValueKind)} value, not a string");
            }

            if (!metadata.TryAdd(property.Name, property.Value.GetString()!))
            {
                throw SafeTensorsFormatException.Create(source, null, $"'{SafeTensorEntry.MetadataKey}' has the key '{property.Name}' twice");
            }
        }

        return metadata;
    }

    private static SafeTensorHeaderEntry ParseEntry(string name, JsonElement element, long dataLength, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw SafeTensorsFormatException.Create(source, name, $"is described by a JSON {Describe(element.ValueKind)}, not an object with dtype, shape and data_offsets");
        }

        SafeTensorsDType? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in element.EnumerateObject())
        {
            if (!seen.Add(field.Name))
            {
                throw SafeTensorsFormatException.Create(source, name, $"has the field '{field.Name}' twice");
            }

            switch (field.Name)
            {
                case "dtype":
                    if (field.Value.ValueKind != JsonValueKind.String)
                    {
                        throw SafeTensorsFormatException.Create(source, name, $"has a dtype that is a JSON {Describe(field.Value.ValueKind)}, not a string");
                    }

                    var text = field.Value.GetString();
                    if (!SafeTensorsDTypeExtensions.TryParseHeaderString(text, out var parsed))
                    {
                        throw SafeTensorsFormatException.Create(source, name,
                            $"has unknown dtype '{text}' (known dtypes: {SafeTensorsDTypeExtensions.KnownHeaderStrings})");
                    }

                    dtype = parsed;
                    break;
                case "shape":
                    shape = ParseIntegers(field.Value, "shape", name, source);
                    break;
                case "data_offsets":
                    offsets = ParseIntegers(field.Value, "data_offsets", name, source);
                    if (offsets.Length != 2)
                    {
                        throw SafeTensorsFormatException.Create(source, name, $"has data_offsets with {offsets.Length} numbers instead of 2 ([begin, end])");
                    }

                    break;
                default:
                    // Unknown fields are rejected rather than skipped: the format defines none, and silently
                    // ignoring one (say a misspelt "data_offset") would hide a broken writer.
                    throw SafeTensorsFormatException.Create(source, name, $"has unknown field '{field.Name}' (expected dtype, shape and data_offsets)");
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            var missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw SafeTensorsFormatException.Create(source, name, $"has no '{missing}' field");
        }

        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin)
        {
            throw SafeTensorsFormatException.Create(source, name, $"has data_offsets [{begin}, {end}] whose end is before its begin");
        }

        if (end > dataLength)
        {
            throw SafeTensorsFormatException.Create(source, name,
                $"has data_offsets [{begin}, {end}] beyond the end of the data section, which holds only {dataLength} bytes (is the file truncated?)");
        }

        if (!SafeTensorEntry.TryGetByteLength(dtype.Value, shape, out _, out var byteLength, out var problem))
        {
            throw SafeTensorsFormatException.Create(source, name, problem!);
        }

        if (end - begin != byteLength)
        {
            throw SafeTensorsFormatException.Create(source, name,
                $"has data_offsets [{begin}, {end}] but dtype {dtype.Value.ToHeaderString()} and shape {SafeTensorEntry.FormatShape(shape)} need {byteLength} bytes");
        }

        return new SafeTensorHeaderEntry(name, dtype.Value, shape, begin, end);
    }

    private static long[] ParseIntegers(JsonElement element, string field, string name, string source)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            throw SafeTensorsFormatException.Create(source, name, $"has a {field} that is a JSON {Describe(element.ValueKind)}, not an array");
        }

        var values = new long[element.GetArrayLength()];
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            // TryGetInt64 refuses fractions, exponents and values beyond 64 bits, like the reference's usize fields.
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0)
            {
                throw SafeTensorsFormatException.Create(source, name,
                    $"has {field} element {item.GetRawText()} at position {index}, which is not a non-negative 64-bit integer");
            }

            values[index++] = value;
        }

        return values;
    }

    /// <summary>
    /// Checks that the tensors tile the data section exactly: no overlap, no gap, nothing left over. The reference
    /// implementation demands the same, and it means every byte of the file is accounted for.
    /// </summary>
    private static void CheckLayout(List<SafeTensorHeaderEntry> entries, long dataLength, string source)
    {
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long covered = 0;
        SafeTensorHeaderEntry? previous = null;
        foreach (var entry in ordered)
        {
            if (entry.Begin < covered)
            {
                throw SafeTensorsFormatException.Create(source, entry.Name,
                    $"has data_offsets [{entry.Begin}, {entry.End}] that overlap tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}]");
            }

            if (entry.Begin > covered)
            {
                throw SafeTensorsFormatException.Create(source, entry.Name,
                    $"has data_offsets [{entry.Begin}, {entry.End}], leaving bytes [{covered}, {entry.Begin}) of the data section unused; tensors must be packed without gaps");
            }

            covered = entry.End;
            previous = entry;
        }

        if (covered != dataLength)
        {
            throw SafeTensorsFormatException.Create(source, null,
                $"the data section is {dataLength} bytes but the tensors cover only the first {covered}; the last {dataLength - covered} bytes belong to no tensor");
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
