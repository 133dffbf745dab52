namespace Lily.Analysis;

/// <summary>The active adapter of a model, looked inside (see <see cref="PeftInspection"/>).</summary>
/// <param name="AdapterName">The adapter inspected (the active one).</param>
/// <param name="Layers">Every layer of the adapter, in the model's traversal order.</param>
/// <param name="LayerDivergence">
/// For routed layers (Lily, say): the pairwise Jensen–Shannon divergences between the layers' mixtures, rows and columns in
/// the order of <paramref name="Layers"/>. Layers of different target types have different expert
/// pools, so between them it compares expert indexes, not the same experts. Null for LoRA, and when
/// a given mixture is not a probability vector.
/// </param>
public sealed record AdapterInspection(string AdapterName, IReadOnlyList<LayerInspection> Layers, LayerDivergence? LayerDivergence);
