namespace Lily.Bert.Conversion;

/// <summary>A graph input or output: its name, element type and shape (a dimension is a number or a symbolic name).</summary>
internal sealed class OnnxValueInfo
{
    public required string Name { get; init; }

    public int ElementType { get; init; }

    /// <summary>Each dimension as its number, or its symbolic name (such as <c>batch_size</c>), or <c>?</c>.</summary>
    public IReadOnlyList<string> Shape { get; init; } = [];
}
