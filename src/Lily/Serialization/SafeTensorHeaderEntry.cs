namespace Lily.Serialization;

/// <summary>One tensor as the JSON header describes it: where its bytes are in the data section.</summary>
/// <param name="Name">The header key.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions.</param>
/// <param name="Begin">The first byte, relative to the start of the data section.</param>
/// <param name="End">One past the last byte, relative to the start of the data section.</param>
internal sealed record SafeTensorHeaderEntry(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>The number of bytes the entry covers.</summary>
    public long Length => End - Begin;
}
