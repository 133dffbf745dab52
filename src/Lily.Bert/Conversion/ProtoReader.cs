using System.Buffers.Binary;
using System.Text;

namespace Lily.Bert.Conversion;

/// <summary>
/// A forward-only reader of the protobuf wire format over one message's bytes: enough to walk an ONNX file
/// without a generated schema. Every overrun names what was being read, so a truncated file says where.
/// </summary>
internal struct ProtoReader
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly string _what;
    private int _position;

    /// <summary>Wire type of a varint field.</summary>
    public const int Varint = 0;

    /// <summary>Wire type of an 8-byte field.</summary>
    public const int Fixed64 = 1;

    /// <summary>Wire type of a length-delimited field (bytes, strings, messages, packed arrays).</summary>
    public const int LengthDelimited = 2;

    /// <summary>Wire type of a 4-byte field.</summary>
    public const int Fixed32 = 5;

    public ProtoReader(ReadOnlyMemory<byte> data, string what)
    {
        _data = data;
        _what = what;
        _position = 0;
    }

    public readonly bool AtEnd => _position >= _data.Length;

    /// <summary>Reads the next field's number and wire type.</summary>
    public (int Field, int WireType) ReadTag()
    {
        var tag = ReadVarint();
        var field = tag >> 3;
        var wireType = (int)(tag & 7);
        if (field == 0 || field > int.MaxValue)
            throw Malformed($"field number {field} at byte {_position}");
        // Groups (3, 4) were deprecated before ONNX existed; 6 and 7 are not wire types at all.
        if (wireType is not (Varint or Fixed64 or LengthDelimited or Fixed32))
            throw Malformed($"unsupported wire type {wireType} for field {field}");
        return ((int)field, wireType);
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        var span = _data.Span;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= span.Length) throw Malformed("a varint runs past the end");
            var b = span[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw Malformed("a varint is longer than 10 bytes");
    }

    public long ReadInt64() => (long)ReadVarint();

    public int ReadInt32()
    {
        var value = ReadInt64();
        if (value is < int.MinValue or > int.MaxValue) throw Malformed($"int32 value {value} out of range");
        return (int)value;
    }

    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4).Span);

    public ReadOnlyMemory<byte> ReadBytes()
    {
        var length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
            throw Malformed($"a length-delimited field of {length} bytes runs past the end ({_data.Length - _position} left)");
        return Take((int)length);
    }

    public string ReadString()
    {
        var bytes = ReadBytes();
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.Span);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{_what}: a string field is not valid UTF-8.", e);
        }
    }

    public ProtoReader ReadMessage(string what) => new(ReadBytes(), what);

    /// <summary>Reads a repeated int64 field, packed (one length-delimited run) or not (one value per tag).</summary>
    public void ReadRepeatedInt64(int wireType, List<long> into)
    {
        if (wireType == Varint)
        {
            into.Add(ReadInt64());
            return;
        }
        Expect(wireType, LengthDelimited, "a repeated int64");
        var packed = new ProtoReader(ReadBytes(), _what);
        while (!packed.AtEnd) into.Add(packed.ReadInt64());
    }

    /// <summary>Reads a repeated float field, packed or not.</summary>
    public void ReadRepeatedFloat(int wireType, List<float> into)
    {
        if (wireType == Fixed32)
        {
            into.Add(ReadFloat());
            return;
        }
        Expect(wireType, LengthDelimited, "a repeated float");
        var bytes = ReadBytes();
        if (bytes.Length % 4 != 0) throw Malformed($"a packed float array of {bytes.Length} bytes");
        var span = bytes.Span;
        for (var i = 0; i < span.Length; i += 4) into.Add(BinaryPrimitives.ReadSingleLittleEndian(span[i..]));
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64: Take(8); break;
            case LengthDelimited: ReadBytes(); break;
            case Fixed32: Take(4); break;
            default: throw Malformed($"unsupported wire type {wireType}");
        }
    }

    public readonly void Expect(int wireType, int expected, string field)
    {
        if (wireType != expected) throw Malformed($"{field} has wire type {wireType}, expected {expected}");
    }

    public readonly InvalidDataException Malformed(string detail) => new($"{_what}: malformed ONNX protobuf: {detail}.");

    private ReadOnlyMemory<byte> Take(int count)
    {
        if (count > _data.Length - _position) throw Malformed($"a {count}-byte field runs past the end");
        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }
}
