namespace Lily.Tuners;

/// <summary>The result of <see cref="LoraExport.ExportSqueezedLora{TModel}"/> or <see cref="LoraExport.ExportSqueezedLoraByEnergy{TModel}"/>.</summary>
/// <param name="Rank">The rank k written: the config's <c>r</c>; a layer's own rank, with per-layer ranks, is <c>Config.RankFor(path)</c>.</param>
/// <param name="Layers">Per layer, in the model's traversal order.</param>
/// <param name="EnergyKept">Over all layers: <c>Σ kept σ² / Σ σ²</c>; 1 when every update is zero.</param>
/// <param name="Config">The config written (<c>r = lora_alpha = k</c>).</param>
public sealed record LoraSqueezeReport(int Rank, IReadOnlyList<LayerSqueeze> Layers, double EnergyKept, LoraConfig Config);
