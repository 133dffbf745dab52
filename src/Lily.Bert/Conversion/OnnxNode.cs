namespace Lily.Bert.Conversion;

/// <summary>An ONNX <c>NodeProto</c>: one operator and the value names it reads and writes.</summary>
internal sealed class OnnxNode
{
    public required string Name { get; init; }

    public required string OpType { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }

    public required IReadOnlyList<string> Outputs { get; init; }

    public required IReadOnlyList<OnnxAttribute> Attributes { get; init; }

    public OnnxAttribute? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name);
}
