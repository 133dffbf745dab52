namespace Lily.Bert.Conversion;

/// <summary>The parts of an ONNX <c>AttributeProto</c> the BERT converter reads; others are skipped.</summary>
internal sealed class OnnxAttribute
{
    public required string Name { get; init; }

    public long? Int { get; init; }

    public float? Float { get; init; }

    public IReadOnlyList<long> Ints { get; init; } = [];

    public OnnxTensor? Tensor { get; init; }
}
