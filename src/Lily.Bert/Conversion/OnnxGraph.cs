namespace Lily.Bert.Conversion;

/// <summary>An ONNX <c>GraphProto</c>: nodes in order, initializers, inputs and outputs.</summary>
internal sealed class OnnxGraph
{
    public required IReadOnlyList<OnnxNode> Nodes { get; init; }

    public required IReadOnlyList<OnnxTensor> Initializers { get; init; }

    public required IReadOnlyList<OnnxValueInfo> Inputs { get; init; }

    public required IReadOnlyList<OnnxValueInfo> Outputs { get; init; }
}
