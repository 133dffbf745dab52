using System.Buffers.Binary;

namespace Lily.Bert.Conversion;

/// <summary>An ONNX <c>TensorProto</c>: an initializer or a <c>Constant</c> node's value.</summary>
internal sealed class OnnxTensor
{
    /// <summary>ONNX <c>TensorProto.DataType.FLOAT</c>.</summary>
    public const int Float = 1;

    /// <summary>ONNX <c>TensorProto.DataType.INT32</c>.</summary>
    public const int Int32 = 6;

    /// <summary>ONNX <c>TensorProto.DataType.INT64</c>.</summary>
    public const int Int64 = 7;

    public required string Name { get; init; }

    public required long[] Dims { get; init; }

    public required int DataType { get; init; }

    /// <summary>The little-endian <c>raw_data</c> bytes, or empty when the values are in a typed field.</summary>
    public ReadOnlyMemory<byte> RawData { get; init; }

    public IReadOnlyList<float> FloatData { get; init; } = [];

    public IReadOnlyList<long> Int64Data { get; init; } = [];

    /// <summary>Whether the values live in another file (<c>data_location = EXTERNAL</c>), which this reader does not follow.</summary>
    public bool IsExternal { get; init; }

    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>The values as floats, in row-major order.</summary>
    /// <exception cref="InvalidDataException">Not a float tensor, stored externally, or the value count disagrees with the dims.</exception>
    public float[] ToFloats()
    {
        Require(Float, "FLOAT");
        var count = ElementCount;
        if (RawData.Length > 0)
        {
            CheckCount(RawData.Length / 4, RawData.Length % 4 == 0);
            var values = new float[count];
            var span = RawData.Span;
            // raw_data is little-endian by the ONNX spec; on a little-endian machine that is one block copy.
            if (BitConverter.IsLittleEndian) System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).CopyTo(values);
            else for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
            return values;
        }
        CheckCount(FloatData.Count, true);
        return [.. FloatData];
    }

    /// <summary>The values as 64-bit integers (INT64 or INT32 tensors), in row-major order.</summary>
    public long[] ToInt64s()
    {
        if (DataType is not (Int64 or Int32))
            throw new InvalidDataException($"ONNX tensor '{Name}': data_type {DataType}, expected INT64 or INT32.");
        if (IsExternal) throw new InvalidDataException($"ONNX tensor '{Name}': external data is not supported.");
        var width = DataType == Int64 ? 8 : 4;
        if (RawData.Length > 0)
        {
            CheckCount(RawData.Length / width, RawData.Length % width == 0);
            var values = new long[ElementCount];
            var span = RawData.Span;
            for (var i = 0; i < values.Length; i++)
                values[i] = width == 8 ? BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]);
            return values;
        }
        // INT32 values without raw_data sit in int32_data, which the reader stores with the int64s (both are varints).
        CheckCount(Int64Data.Count, true);
        return [.. Int64Data];
    }

    private void Require(int type, string name)
    {
        if (DataType != type) throw new InvalidDataException($"ONNX tensor '{Name}': data_type {DataType}, expected {name} ({type}).");
        if (IsExternal) throw new InvalidDataException($"ONNX tensor '{Name}': external data is not supported.");
    }

    private void CheckCount(long stored, bool aligned)
    {
        if (!aligned || stored != ElementCount)
            throw new InvalidDataException($"ONNX tensor '{Name}': dims [{string.Join(", ", Dims)}] need {ElementCount} values but the data holds {stored}{(aligned ? "" : " (misaligned)")}.");
    }
}
