namespace Lily.Serialization;

/// <summary>
/// The element types a safetensors file can declare in a tensor's <c>"dtype"</c> field.
/// </summary>
/// <remarks>
/// The numeric values follow the order of the reference implementation's <c>Dtype</c> enum
/// (huggingface/safetensors), which is ordered by increasing alignment. The writer sorts tensors by
/// descending dtype and then by name, exactly like the reference, so these values must not be
/// reordered. Use <see cref="SafeTensorsDTypeExtensions"/> for the header spelling, element size and the
/// mapping to TorchSharp scalar types.
/// </remarks>
internal enum SafeTensorsDType
{
    /// <summary>Boolean stored as one byte, 0 or 1 (<c>"BOOL"</c>).</summary>
    Bool = 0,

    /// <summary>Unsigned 8-bit integer (<c>"U8"</c>).</summary>
    U8 = 1,

    /// <summary>Signed 8-bit integer (<c>"I8"</c>).</summary>
    I8 = 2,

    /// <summary>8-bit float with 5 exponent and 2 mantissa bits (<c>"F8_E5M2"</c>); TorchSharp 0.107 cannot hold it.</summary>
    F8E5M2 = 3,

    /// <summary>8-bit float with 4 exponent and 3 mantissa bits (<c>"F8_E4M3"</c>); TorchSharp 0.107 cannot hold it.</summary>
    F8E4M3 = 4,

    /// <summary>Signed 16-bit integer (<c>"I16"</c>).</summary>
    I16 = 5,

    /// <summary>Unsigned 16-bit integer (<c>"U16"</c>); TorchSharp 0.107 cannot hold it.</summary>
    U16 = 6,

    /// <summary>IEEE 754 half-precision float (<c>"F16"</c>).</summary>
    F16 = 7,

    /// <summary>bfloat16, the upper half of an IEEE single (<c>"BF16"</c>).</summary>
    BF16 = 8,

    /// <summary>Signed 32-bit integer (<c>"I32"</c>).</summary>
    I32 = 9,

    /// <summary>Unsigned 32-bit integer (<c>"U32"</c>); TorchSharp 0.107 cannot hold it.</summary>
    U32 = 10,

    /// <summary>IEEE 754 single-precision float (<c>"F32"</c>).</summary>
    F32 = 11,

    /// <summary>IEEE 754 double-precision float (<c>"F64"</c>).</summary>
    F64 = 12,

    /// <summary>Signed 64-bit integer (<c>"I64"</c>).</summary>
    I64 = 13,

    /// <summary>Unsigned 64-bit integer (<c>"U64"</c>); TorchSharp 0.107 cannot hold it.</summary>
    U64 = 14,
}
