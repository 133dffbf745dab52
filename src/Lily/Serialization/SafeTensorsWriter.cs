using System.Buffers.Binary;
using System.Text;
using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// Writes safetensors files: an 8-byte little-endian header length, a JSON header padded with spaces to a multiple
/// of 8 bytes, then the tensors' bytes in header order.
/// </summary>
/// <remarks>
/// Tensors are laid out like the reference implementation (huggingface/safetensors): sorted by dtype alignment,
/// largest first, then by name, so every tensor starts at an offset aligned to its element size. The metadata always
/// carries <c>"format": "pt"</c> (which the Python loaders look for) unless the caller supplies another format.
/// Files are saved with <see cref="AtomicFile"/>, so a failed save leaves the previous file untouched.
/// </remarks>
internal static class SafeTensorsWriter
{
    private static readonly IComparer<byte[]> Utf8Order = Comparer<byte[]>.Create((x, y) => x.AsSpan().SequenceCompareTo(y));

    /// <summary>The metadata key PyTorch-oriented loaders read.</summary>
    public const string FormatKey = "format";

    /// <summary>The value written for <see cref="FormatKey"/> unless the caller's metadata sets one.</summary>
    public const string DefaultFormat = "pt";

    /// <summary>Saves TorchSharp tensors to a file atomically.</summary>
    /// <param name="path">The file to create or replace; its directory must exist.</param>
    /// <param name="tensors">Name and tensor pairs; tensors may live on any device and need not be contiguous. They are not modified.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings, or <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A name is duplicated, null or <c>__metadata__</c>, or a tensor is null.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype cannot be stored (complex, quantized) or it is over 2 GiB.</exception>
    public static void Save(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        // The enumeration happens inside the callback, so even a failure while listing tensors removes the temp file.
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));
    }

    /// <summary>Saves raw entries to a file atomically.</summary>
    /// <param name="path">The file to create or replace; its directory must exist.</param>
    /// <param name="entries">The tensors in stored form.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings, or <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A name is duplicated or an entry is null.</exception>
    public static void Save(string path, IEnumerable<SafeTensorEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        AtomicFile.Write(path, stream => Write(stream, entries, metadata));
    }

    /// <summary>Writes TorchSharp tensors as safetensors to a stream, one tensor in memory at a time.</summary>
    /// <remarks>Everything is validated before the first byte is written, but a failure while copying tensor data leaves
    /// the stream partly written; use <see cref="Save(string, IEnumerable{KeyValuePair{string, torch.Tensor}}, IReadOnlyDictionary{string, string}?)"/>
    /// for an all-or-nothing file.</remarks>
    /// <param name="stream">The destination; not disposed.</param>
    /// <param name="tensors">Name and tensor pairs; tensors may live on any device and need not be contiguous. They are not modified.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings, or <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A name is duplicated, null or <c>__metadata__</c>, or a tensor is null.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype cannot be stored (complex, quantized) or it is over 2 GiB.</exception>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<(string Name, SafeTensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData)>();
        foreach (var (name, tensor) in tensors)
        {
            CheckName(name);
            if (tensor is null)
            {
                throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            }

            var (dtype, shape, byteLength) = TensorBytes.Describe(name, tensor);
            // The bytes are fetched only when it is this tensor's turn, so a model on the GPU is copied to the CPU
            // one tensor at a time instead of all at once.
            items.Add((name, dtype, shape, byteLength, s => TensorBytes.WriteTo(name, tensor, byteLength, s)));
        }

        WriteItems(stream, items, metadata);
    }

    /// <summary>Writes raw entries as safetensors to a stream.</summary>
    /// <param name="stream">The destination; not disposed.</param>
    /// <param name="entries">The tensors in stored form.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings, or <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A name is duplicated or an entry is null.</exception>
    public static void Write(Stream stream, IEnumerable<SafeTensorEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(entries);
        var items = new List<(string Name, SafeTensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData)>();
        foreach (var entry in entries)
        {
            if (entry is null)
            {
                throw new ArgumentException("An entry is null.", nameof(entries));
            }

            items.Add((entry.Name, entry.DType, entry.ShapeArray, entry.ByteLength, s => s.Write(entry.Data.Span)));
        }

        WriteItems(stream, items, metadata);
    }

    private static void WriteItems(Stream stream, List<(string Name, SafeTensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData)> items, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (!names.Add(item.Name))
            {
                throw new ArgumentException($"Tensor name '{item.Name}' appears more than once.", "tensors");
            }
        }

        // Reference order: dtype descending (the enum follows the reference's alignment order), then name. Rust
        // compares strings by UTF-8 bytes, which differs from .NET's UTF-16 ordinal order only past U+D7FF, but
        // comparing the same bytes keeps the files identical.
        var ordered = items
            .Select(item => (Item: item, Key: Encoding.UTF8.GetBytes(item.Name)))
            .OrderByDescending(x => x.Item.DType)
            .ThenBy(x => x.Key, Utf8Order)
            .Select(x => x.Item)
            .ToList();

        var headerEntries = new List<SafeTensorHeaderEntry>(ordered.Count);
        long offset = 0;
        foreach (var item in ordered)
        {
            var end = checked(offset + item.ByteLength);
            headerEntries.Add(new SafeTensorHeaderEntry(item.Name, item.DType, item.Shape, offset, end));
            offset = end;
        }

        var header = SafeTensorsHeader.Build(headerEntries, BuildMetadata(metadata));
        Span<byte> prefix = stackalloc byte[SafeTensorsHeader.PrefixLength];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var item in ordered)
        {
            item.WriteData(stream);
        }

        stream.Flush();
    }

    private static Dictionary<string, string> BuildMetadata(IReadOnlyDictionary<string, string>? metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal) { [FormatKey] = DefaultFormat };
        if (metadata is null)
        {
            return result;
        }

        foreach (var (key, value) in metadata)
        {
            if (key is null || value is null)
            {
                throw new ArgumentException($"Metadata key '{key}' has a null key or value; safetensors metadata holds strings only.", nameof(metadata));
            }

            result[key] = value;
        }

        return result;
    }

    private static void CheckName(string? name)
    {
        if (name is null)
        {
            throw new ArgumentException("A tensor name is null.", "tensors");
        }

        if (name == SafeTensorEntry.MetadataKey)
        {
            throw new ArgumentException($"'{SafeTensorEntry.MetadataKey}' is reserved for the file metadata and cannot name a tensor.", "tensors");
        }
    }

}
