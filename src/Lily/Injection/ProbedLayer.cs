namespace Lily.Injection;

/// <summary>One adapted layer as the inference probe found it.</summary>
/// <param name="Path">The layer's full dotted path.</param>
/// <param name="Attachment">How its adapters are attached.</param>
/// <param name="Outcome">Whether its adapter reached the output.</param>
public sealed record ProbedLayer(string Path, AdapterAttachment Attachment, ProbeOutcome Outcome);
