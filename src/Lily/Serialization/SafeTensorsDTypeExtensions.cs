using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// Helpers for <see cref="SafeTensorsDType"/>: element size, the spelling used in file headers, and the
/// mapping to and from TorchSharp's <see cref="torch.ScalarType"/>.
/// </summary>
internal static class SafeTensorsDTypeExtensions
{
    // Indexed by the enum's numeric value; kept next to each other so a new dtype cannot get a name
    // without a size.
    private static readonly string[] HeaderStrings =
    [
        "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
    ];

    private static readonly int[] ElementSizes = [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8];

    // Header strings are case-sensitive in the reference implementation (serde enum names), so ordinal.
    private static readonly Dictionary<string, SafeTensorsDType> ByHeaderString =
        Enumerable.Range(0, HeaderStrings.Length).ToDictionary(i => HeaderStrings[i], i => (SafeTensorsDType)i, StringComparer.Ordinal);

    /// <summary>Every dtype, in the reference implementation's order (increasing alignment).</summary>
    public static IReadOnlyList<SafeTensorsDType> All { get; } =
        Enumerable.Range(0, HeaderStrings.Length).Select(i => (SafeTensorsDType)i).ToArray();

    /// <summary>The size of one element in bytes.</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns>1, 2, 4 or 8.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    public static int ElementSize(this SafeTensorsDType dtype) => ElementSizes[Index(dtype)];

    /// <summary>The spelling of the dtype in a safetensors header, e.g. <c>"F32"</c> or <c>"BOOL"</c>.</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns>The header string.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    public static string ToHeaderString(this SafeTensorsDType dtype) => HeaderStrings[Index(dtype)];

    /// <summary>Parses a header dtype string such as <c>"BF16"</c> (case-sensitive, as in the format).</summary>
    /// <param name="text">The string from the header.</param>
    /// <returns>The dtype.</returns>
    /// <exception cref="FormatException"><paramref name="text"/> is not a known dtype; the message lists the known ones.</exception>
    public static SafeTensorsDType ParseHeaderString(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (TryParseHeaderString(text, out var dtype))
        {
            return dtype;
        }

        throw new FormatException($"Unknown safetensors dtype '{text}'; known dtypes are {KnownHeaderStrings}.");
    }

    /// <summary>Parses a header dtype string such as <c>"BF16"</c> without throwing.</summary>
    /// <param name="text">The string from the header, or <see langword="null"/>.</param>
    /// <param name="dtype">The dtype when the result is <see langword="true"/>.</param>
    /// <returns>Whether <paramref name="text"/> names a known dtype.</returns>
    public static bool TryParseHeaderString([NotNullWhen(true)] string? text, out SafeTensorsDType dtype)
    {
        if (text is not null && ByHeaderString.TryGetValue(text, out dtype))
        {
            return true;
        }

        dtype = default;
        return false;
    }

    /// <summary>The known header strings as a comma-separated list, for error messages.</summary>
    internal static string KnownHeaderStrings => string.Join(", ", HeaderStrings);

    /// <summary>The TorchSharp scalar type with the same bit layout.</summary>
    /// <param name="dtype">The dtype.</param>
    /// <returns>The scalar type.</returns>
    /// <exception cref="NotSupportedException">TorchSharp 0.107 has no such type (U16, U32, U64, F8_E5M2, F8_E4M3).</exception>
    public static torch.ScalarType ToScalarType(this SafeTensorsDType dtype)
    {
        if (TryGetScalarType(dtype, out var scalarType))
        {
            return scalarType;
        }

        throw new NotSupportedException(
            $"safetensors dtype {dtype.ToHeaderString()} has no TorchSharp scalar type; its raw bytes are still available from SafeTensorEntry.Data.");
    }

    /// <summary>The TorchSharp scalar type with the same bit layout, without throwing.</summary>
    /// <param name="dtype">The dtype.</param>
    /// <param name="scalarType">The scalar type when the result is <see langword="true"/>.</param>
    /// <returns>Whether TorchSharp can hold <paramref name="dtype"/>.</returns>
    public static bool TryGetScalarType(this SafeTensorsDType dtype, out torch.ScalarType scalarType)
    {
        switch (dtype)
        {
            case SafeTensorsDType.Bool: scalarType = torch.ScalarType.Bool; return true;
            case SafeTensorsDType.U8: scalarType = torch.ScalarType.Byte; return true;
            case SafeTensorsDType.I8: scalarType = torch.ScalarType.Int8; return true;
            case SafeTensorsDType.I16: scalarType = torch.ScalarType.Int16; return true;
            case SafeTensorsDType.F16: scalarType = torch.ScalarType.Float16; return true;
            case SafeTensorsDType.BF16: scalarType = torch.ScalarType.BFloat16; return true;
            case SafeTensorsDType.I32: scalarType = torch.ScalarType.Int32; return true;
            case SafeTensorsDType.F32: scalarType = torch.ScalarType.Float32; return true;
            case SafeTensorsDType.F64: scalarType = torch.ScalarType.Float64; return true;
            case SafeTensorsDType.I64: scalarType = torch.ScalarType.Int64; return true;
            default: scalarType = default; return false;
        }
    }

    /// <summary>The safetensors dtype with the same bit layout as a TorchSharp scalar type.</summary>
    /// <param name="scalarType">The scalar type.</param>
    /// <returns>The dtype.</returns>
    /// <exception cref="NotSupportedException">safetensors cannot store the type (complex and quantized types).</exception>
    public static SafeTensorsDType ToSafeTensorsDType(this torch.ScalarType scalarType)
    {
        if (TryGetSafeTensorsDType(scalarType, out var dtype))
        {
            return dtype;
        }

        throw new NotSupportedException($"TorchSharp scalar type {scalarType} has no safetensors dtype.");
    }

    /// <summary>The safetensors dtype with the same bit layout as a TorchSharp scalar type, without throwing.</summary>
    /// <param name="scalarType">The scalar type.</param>
    /// <param name="dtype">The dtype when the result is <see langword="true"/>.</param>
    /// <returns>Whether safetensors can store <paramref name="scalarType"/>.</returns>
    public static bool TryGetSafeTensorsDType(this torch.ScalarType scalarType, out SafeTensorsDType dtype)
    {
        switch (scalarType)
        {
            case torch.ScalarType.Bool: dtype = SafeTensorsDType.Bool; return true;
            case torch.ScalarType.Byte: dtype = SafeTensorsDType.U8; return true;
            case torch.ScalarType.Int8: dtype = SafeTensorsDType.I8; return true;
            case torch.ScalarType.Int16: dtype = SafeTensorsDType.I16; return true;
            case torch.ScalarType.Float16: dtype = SafeTensorsDType.F16; return true;
            case torch.ScalarType.BFloat16: dtype = SafeTensorsDType.BF16; return true;
            case torch.ScalarType.Int32: dtype = SafeTensorsDType.I32; return true;
            case torch.ScalarType.Float32: dtype = SafeTensorsDType.F32; return true;
            case torch.ScalarType.Float64: dtype = SafeTensorsDType.F64; return true;
            case torch.ScalarType.Int64: dtype = SafeTensorsDType.I64; return true;
            default: dtype = default; return false;
        }
    }

    private static int Index(SafeTensorsDType dtype)
    {
        var index = (int)dtype;
        if ((uint)index >= (uint)HeaderStrings.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a defined safetensors dtype.");
        }

        return index;
    }
}
