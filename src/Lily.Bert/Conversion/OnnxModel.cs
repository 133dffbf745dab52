namespace Lily.Bert.Conversion;

/// <summary>An ONNX <c>ModelProto</c>: the format version, who wrote it, and the graph.</summary>
internal sealed class OnnxModel
{
    public long IrVersion { get; init; }

    public string ProducerName { get; init; } = "";

    public string ProducerVersion { get; init; } = "";

    /// <summary>Opset version by domain (<c>""</c> is the default ONNX domain).</summary>
    public IReadOnlyDictionary<string, long> Opsets { get; init; } = new Dictionary<string, long>();

    public required OnnxGraph Graph { get; init; }
}
