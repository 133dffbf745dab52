using System.Text;

namespace Lily.Tests.Serialization;

/// <summary>Builds safetensors bytes by hand, following the format description rather than our writer.</summary>
internal static class SafeTensorsTestFiles
{
    /// <summary>An unsigned 64-bit value as 8 little-endian bytes, spelled out so the test does not rely on the code under test.</summary>
    public static byte[] UInt64LittleEndian(ulong value)
    {
        var bytes = new byte[8];
        for (var i = 0; i < 8; i++)
        {
            bytes[i] = (byte)(value >> (8 * i));
        }

        return bytes;
    }

    /// <summary>The header JSON as UTF-8, padded with spaces to a multiple of 8 when asked.</summary>
    public static byte[] Header(string json, bool pad = true)
    {
        var header = Encoding.UTF8.GetBytes(json);
        if (pad && header.Length % 8 != 0)
        {
            header = [.. header, .. Enumerable.Repeat((byte)' ', 8 - (header.Length % 8))];
        }

        return header;
    }

    /// <summary>A whole file: length prefix, header, data.</summary>
    public static byte[] FileBytes(string json, byte[] data, bool pad = true)
    {
        var header = Header(json, pad);
        return [.. UInt64LittleEndian((ulong)header.Length), .. header, .. data];
    }

    /// <summary>A whole file from raw header bytes (for invalid UTF-8 and the like).</summary>
    public static byte[] FileBytes(byte[] header, byte[] data) => [.. UInt64LittleEndian((ulong)header.Length), .. header, .. data];

    /// <summary>Bytes that are not all equal, so a misplaced slice shows up.</summary>
    public static byte[] Counting(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();
}
