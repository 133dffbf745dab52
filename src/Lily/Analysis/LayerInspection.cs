namespace Lily.Analysis;

/// <summary>One adapted layer of a model, looked inside (see <see cref="PeftInspection"/>).</summary>
/// <param name="Path">The layer's path in the model.</param>
/// <param name="Method">The adapter's method as its <c>peft_type</c> names it, e.g. <c>"LORA"</c>, <c>"LILY"</c> or <c>"CLORA"</c>.</param>
/// <param name="Spectrum">The singular values of the layer's ΔW (for a routed layer: at <paramref name="Mixture"/>), by the thin low-rank route.</param>
/// <param name="Mixture">For a routed layer (Lily, say): the expert weights <c>[E]</c> ΔW was taken at (given, frozen, or the mean routing of the data); null for LoRA.</param>
/// <param name="Routing">For a routed layer inspected on data: what the router did over its tokens; otherwise null.</param>
public sealed record LayerInspection(string Path, string Method, Spectrum Spectrum, double[]? Mixture, RoutingStatistics? Routing);
