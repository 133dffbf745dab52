using System.Collections.ObjectModel;
using System.Globalization;
using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// One tensor of a safetensors file in its stored form: name, dtype, shape and the raw little-endian,
/// row-major bytes.
/// </summary>
/// <remarks>
/// The constructor checks that the bytes match the dtype and shape, so every entry can be written as is.
/// The entry does not copy <see cref="Data"/>: whoever builds an entry from a buffer must not change the
/// buffer afterwards. Entries returned by <see cref="SafeTensorsReader"/> own their buffers.
/// </remarks>
internal sealed class SafeTensorEntry
{
    /// <summary>The header key reserved for the file's string metadata; no tensor may use it.</summary>
    public const string MetadataKey = "__metadata__";

    private readonly long[] _shape;

    /// <summary>Creates an entry and checks that <paramref name="data"/> holds exactly the elements the shape describes.</summary>
    /// <param name="name">The tensor's key in the header, e.g. <c>"base_model.model.q_proj.lora_A.weight"</c>.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">The dimensions, outermost first; empty for a scalar. Copied.</param>
    /// <param name="data">The elements as little-endian bytes in row-major order. Not copied.</param>
    /// <exception cref="ArgumentException">
    /// The name is <see cref="MetadataKey"/>, a dimension is negative, the size overflows, the byte count does not match,
    /// or a <see cref="SafeTensorsDType.Bool"/> byte is neither 0 nor 1.
    /// </exception>
    public SafeTensorEntry(string name, SafeTensorsDType dtype, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == MetadataKey)
        {
            throw new ArgumentException($"'{MetadataKey}' is reserved for the file metadata and cannot name a tensor.", nameof(name));
        }

        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Tensor '{name}': not a defined safetensors dtype.");
        }

        _shape = shape.ToArray();
        if (!TryGetByteLength(dtype, _shape, out var elementCount, out var byteLength, out var problem))
        {
            throw new ArgumentException($"Tensor '{name}' {problem}.", nameof(shape));
        }

        if (data.Length != byteLength)
        {
            throw new ArgumentException(
                $"Tensor '{name}': dtype {dtype.ToHeaderString()} and shape {FormatShape(_shape)} need {byteLength} bytes, but {data.Length} were given.",
                nameof(data));
        }

        if (dtype == SafeTensorsDType.Bool && FindInvalidBoolByte(data.Span) is { } bad)
        {
            // torch.bool storage with other byte values is undefined behaviour in libtorch, so refuse it here.
            throw new ArgumentException($"Tensor '{name}': BOOL element {bad} is {data.Span[(int)bad]}, but only 0 and 1 are valid.", nameof(data));
        }

        Name = name;
        DType = dtype;
        Shape = new ReadOnlyCollection<long>(_shape);
        ElementCount = elementCount;
        Data = data;
    }

    /// <summary>The tensor's key in the file header.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>The size of <see cref="Data"/> in bytes.</summary>
    public long ByteLength => Data.Length;

    /// <summary>The elements as little-endian bytes in row-major order.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The shape as a new array, the form TorchSharp's factory methods take.</summary>
    /// <returns>A copy of <see cref="Shape"/>.</returns>
    public long[] GetShape() => (long[])_shape.Clone();

    /// <summary>Copies a TorchSharp tensor (any device, any layout of strides) into an entry.</summary>
    /// <param name="name">The tensor's key in the header.</param>
    /// <param name="tensor">The tensor; it is left untouched.</param>
    /// <returns>An entry owning a copy of the tensor's bytes.</returns>
    /// <exception cref="NotSupportedException">safetensors cannot store the tensor's dtype, or the tensor is over 2 GiB.</exception>
    public static SafeTensorEntry FromTensor(string name, torch.Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(tensor);
        var (dtype, shape, byteLength) = TensorBytes.Describe(name, tensor);
        return new SafeTensorEntry(name, dtype, shape, TensorBytes.ToArray(name, tensor, byteLength));
    }

    /// <summary>Creates a TorchSharp CPU tensor with this entry's dtype, shape and exact bits.</summary>
    /// <returns>A new tensor; the caller owns it.</returns>
    /// <exception cref="NotSupportedException">TorchSharp has no scalar type for <see cref="DType"/>.</exception>
    public torch.Tensor ToTensor() => TensorBytes.ToTensor(this);

    /// <summary>A short description such as <c>lora_A.weight: F32 [8, 64]</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => $"{Name}: {DType.ToHeaderString()} {FormatShape(_shape)}";

    /// <summary>The entry's shape without a copy, for code in this assembly that promises not to change it.</summary>
    internal long[] ShapeArray => _shape;

    /// <summary>Formats a shape the way error messages show it: <c>[3, 4]</c>.</summary>
    internal static string FormatShape(IEnumerable<long> shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>
    /// Computes element count and byte length with overflow checks, so a hostile shape cannot wrap around
    /// to a small size that passes the length comparison.
    /// </summary>
    internal static bool TryGetByteLength(SafeTensorsDType dtype, ReadOnlySpan<long> shape, out long elementCount, out long byteLength, out string? problem)
    {
        elementCount = 1;
        byteLength = 0;
        foreach (var dimension in shape)
        {
            if (dimension < 0)
            {
                problem = $"has negative dimension {dimension} in shape {FormatShape(shape.ToArray())}";
                return false;
            }
        }

        try
        {
            foreach (var dimension in shape)
            {
                elementCount = checked(elementCount * dimension);
            }

            byteLength = checked(elementCount * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            problem = $"has shape {FormatShape(shape.ToArray())} whose size in {dtype.ToHeaderString()} bytes overflows a 64-bit integer";
            return false;
        }

        problem = null;
        return true;
    }

    /// <summary>The index of the first byte that is neither 0 nor 1, or <see langword="null"/>.</summary>
    internal static long? FindInvalidBoolByte(ReadOnlySpan<byte> data)
    {
        var index = data.IndexOfAnyExcept((byte)0, (byte)1);
        return index < 0 ? null : index;
    }
}
