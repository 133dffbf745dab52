using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// A safetensors file read into memory and fully validated: its metadata strings and its tensors in header order.
/// </summary>
/// <remarks>
/// <para>
/// Nothing is returned until the whole file has been checked: the header length against a 100 MB cap and the file
/// size, the header as strict UTF-8 JSON without duplicate keys, every tensor's dtype, shape and offsets, and that
/// the tensors tile the data section exactly. No buffer is sized from a number in the file before that number has
/// been checked against the bytes really present. Every problem is reported as a
/// <see cref="SafeTensorsFormatException"/> naming the source and the tensor.
/// </para>
/// <para>Each tensor must be under 2 GiB (a .NET array); the file as a whole may be larger.</para>
/// </remarks>
internal sealed class SafeTensorsReader
{
    private readonly Dictionary<string, SafeTensorEntry> _byName;

    private SafeTensorsReader(string sourceName, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensorEntry> entries)
    {
        SourceName = sourceName;
        Metadata = metadata;
        Entries = entries;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    /// <summary>The path or name the data was read from, as used in error messages.</summary>
    public string SourceName { get; }

    /// <summary>The header's <c>__metadata__</c> strings (PyTorch writers put <c>"format": "pt"</c> there); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorEntry> Entries { get; }

    /// <summary>The tensor names in header order.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <param name="name">The header key.</param>
    /// <exception cref="KeyNotFoundException">There is no such tensor.</exception>
    public SafeTensorEntry this[string name] =>
        _byName.TryGetValue(name, out var entry)
            ? entry
            : throw new KeyNotFoundException($"{SourceName}: there is no tensor '{name}'.");

    /// <summary>Looks a tensor up by name.</summary>
    /// <param name="name">The header key.</param>
    /// <param name="entry">The entry when the result is <see langword="true"/>.</param>
    /// <returns>Whether the file has a tensor called <paramref name="name"/>.</returns>
    public bool TryGetEntry(string name, [NotNullWhen(true)] out SafeTensorEntry? entry) => _byName.TryGetValue(name, out entry);

    /// <summary>Reads and validates a safetensors file.</summary>
    /// <param name="path">The file; error messages name it as given.</param>
    /// <returns>The validated content.</returns>
    /// <exception cref="SafeTensorsFormatException">The file is not a well-formed safetensors file.</exception>
    /// <exception cref="IOException">The file cannot be read (missing, no permission, ...).</exception>
    public static SafeTensorsReader ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // A small buffer: the reads below are either 8 bytes or whole tensors, which FileStream passes straight through.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>Reads and validates safetensors data from the stream's current position to its end.</summary>
    /// <param name="stream">The stream; it is read to the end and not disposed. A stream that cannot seek is first copied to memory.</param>
    /// <param name="sourceName">The name error messages use; defaults to <c>&lt;stream&gt;</c>.</param>
    /// <returns>The validated content.</returns>
    /// <exception cref="SafeTensorsFormatException">The data is not well-formed safetensors.</exception>
    public static SafeTensorsReader Read(Stream stream, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var source = sourceName ?? "<stream>";
        if (!stream.CanRead)
        {
            throw new ArgumentException("The stream cannot be read.", nameof(stream));
        }

        if (!stream.CanSeek)
        {
            // Without a length the header length cannot be checked before allocating, so take the bytes that are
            // really there first; memory grows only with data actually received.
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return Read(copy.GetBuffer().AsSpan(0, (int)copy.Length), source);
        }

        var totalLength = stream.Length - stream.Position;
        CheckMinimumLength(totalLength, source);
        Span<byte> prefix = stackalloc byte[SafeTensorsHeader.PrefixLength];
        ReadExactly(stream, prefix, source);
        var headerLength = SafeTensorsHeader.ReadHeaderLength(prefix, totalLength, source);
        var headerBytes = new byte[headerLength];
        ReadExactly(stream, headerBytes, source);
        var dataLength = totalLength - SafeTensorsHeader.PrefixLength - headerLength;
        var header = SafeTensorsHeader.Parse(headerBytes, dataLength, source);

        // The layout check proved the tensors tile the data section in offset order, so one sequential pass reads them.
        var data = new Dictionary<SafeTensorHeaderEntry, byte[]>(header.Entries.Count);
        foreach (var entry in header.Entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            var bytes = new byte[CheckedArrayLength(entry, source)];
            ReadExactly(stream, bytes, source);
            data.Add(entry, bytes);
        }

        return Create(source, header, entry => data[entry]);
    }

    /// <summary>Reads and validates safetensors data held in memory.</summary>
    /// <param name="bytes">The whole file's bytes; copied, so the caller may reuse the buffer.</param>
    /// <param name="sourceName">The name error messages use; defaults to <c>&lt;memory&gt;</c>.</param>
    /// <returns>The validated content.</returns>
    /// <exception cref="SafeTensorsFormatException">The data is not well-formed safetensors.</exception>
    public static SafeTensorsReader Read(ReadOnlySpan<byte> bytes, string? sourceName = null)
    {
        var source = sourceName ?? "<memory>";
        CheckMinimumLength(bytes.Length, source);
        var headerLength = SafeTensorsHeader.ReadHeaderLength(bytes[..SafeTensorsHeader.PrefixLength], bytes.Length, source);
        var headerBytes = bytes.Slice(SafeTensorsHeader.PrefixLength, headerLength).ToArray();
        var dataSection = bytes[(SafeTensorsHeader.PrefixLength + headerLength)..];
        var header = SafeTensorsHeader.Parse(headerBytes, dataSection.Length, source);

        var data = new Dictionary<SafeTensorHeaderEntry, byte[]>(header.Entries.Count);
        foreach (var entry in header.Entries)
        {
            data.Add(entry, dataSection.Slice((int)entry.Begin, (int)entry.Length).ToArray());
        }

        return Create(source, header, entry => data[entry]);
    }

    /// <summary>Reads a safetensors file straight into TorchSharp CPU tensors.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The tensors by name, in header order; the caller owns (and should dispose) them.</returns>
    /// <exception cref="SafeTensorsFormatException">The file is not a well-formed safetensors file.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype has no TorchSharp equivalent (U16, U32, U64, F8).</exception>
    public static Dictionary<string, torch.Tensor> ReadTensors(string path) => ReadFile(path).ReadTensors();

    /// <summary>Creates a TorchSharp CPU tensor with the entry's dtype, shape and exact bits.</summary>
    /// <param name="entry">The entry, from this class or built by hand.</param>
    /// <returns>A new tensor; the caller owns it.</returns>
    /// <exception cref="NotSupportedException">The entry's dtype has no TorchSharp equivalent (U16, U32, U64, F8).</exception>
    public static torch.Tensor ToTensor(SafeTensorEntry entry) => TensorBytes.ToTensor(entry);

    /// <summary>Creates a TorchSharp CPU tensor for the tensor called <paramref name="name"/>.</summary>
    /// <param name="name">The header key.</param>
    /// <returns>A new tensor; the caller owns it.</returns>
    /// <exception cref="KeyNotFoundException">There is no such tensor.</exception>
    /// <exception cref="NotSupportedException">The tensor's dtype has no TorchSharp equivalent (U16, U32, U64, F8).</exception>
    public torch.Tensor ToTensor(string name) => TensorBytes.ToTensor(this[name]);

    /// <summary>Creates TorchSharp CPU tensors for every entry.</summary>
    /// <returns>The tensors by name, in header order; the caller owns (and should dispose) them.</returns>
    /// <exception cref="NotSupportedException">A tensor's dtype has no TorchSharp equivalent; no tensor is leaked.</exception>
    public Dictionary<string, torch.Tensor> ReadTensors()
    {
        var tensors = new Dictionary<string, torch.Tensor>(Entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (var entry in Entries)
            {
                tensors.Add(entry.Name, TensorBytes.ToTensor(entry));
            }

            return tensors;
        }
        catch
        {
            // Native memory is not reclaimed promptly by the GC, so free what was made before the failure.
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }

            throw;
        }
    }

    private static SafeTensorsReader Create(string source, SafeTensorsHeader header, Func<SafeTensorHeaderEntry, byte[]> dataOf)
    {
        var entries = new List<SafeTensorEntry>(header.Entries.Count);
        foreach (var entry in header.Entries)
        {
            var bytes = dataOf(entry);
            if (entry.DType == SafeTensorsDType.Bool && SafeTensorEntry.FindInvalidBoolByte(bytes) is { } bad)
            {
                throw SafeTensorsFormatException.Create(source, entry.Name, $"has BOOL element {bad} with byte value {bytes[bad]}; only 0 and 1 are valid");
            }

            entries.Add(new SafeTensorEntry(entry.Name, entry.DType, entry.Shape, bytes));
        }

        return new SafeTensorsReader(source, header.Metadata, entries);
    }

    private static void CheckMinimumLength(long totalLength, string source)
    {
        if (totalLength < SafeTensorsHeader.PrefixLength)
        {
            throw SafeTensorsFormatException.Create(source, null,
                $"the file is {totalLength} bytes long, too short for the 8-byte header length that starts every safetensors file");
        }
    }

    private static int CheckedArrayLength(SafeTensorHeaderEntry entry, string source)
    {
        if (entry.Length > Array.MaxLength)
        {
            throw SafeTensorsFormatException.Create(source, entry.Name,
                $"is {entry.Length} bytes; tensors over {Array.MaxLength} bytes are not supported by this reader");
        }

        return (int)entry.Length;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string source)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException exception)
        {
            // The length was checked up front, so this means the file shrank while being read.
            throw SafeTensorsFormatException.Create(source, null, "the file ended before the length it reported (was it truncated while being read?)", exception);
        }
    }
}
