using Lily.Analysis;
using Lily.Deploy;
using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// Writes the active adapter as a plain PEFT LoRA adapter (<c>peft_type "LORA"</c>) that any PEFT
/// loader reads: any adapter whose layers declare low-rank factors, or routed layers (<see cref="IRoutedAdapter"/>,
/// e.g. Lily's) at fixed mixtures, exactly (<see cref="ExportAsLora{TModel}"/>), or any of them truncated to a smaller rank (<see cref="ExportSqueezedLora{TModel}"/>).
/// The exported config selects the same layers (it copies the target, exclude and layer fields and
/// <c>modules_to_save</c>, whose trained values are written too) and has <c>lora_alpha = r</c>, so its
/// scaling is 1 and the factors carry the adapter's own scaling.
/// </summary>
public static class LoraExport
{
    /// <summary>
    /// Writes the active adapter as a rank-r LoRA in <paramref name="directory"/>: for each layer's factors
    /// <c>scaling · B · A</c> (a routed layer's at its mixture p̄; for Lily <c>B = (Σ_e p̄_e B_e)ᵀ</c>),
    /// <c>lora_A = A</c> (<c>[r, d_in]</c>) and <c>lora_B = scaling · B</c> (<c>[d_out, r]</c>), so the loaded LoRA
    /// computes what the model with that routing frozen computes. A LoRA adapter is rewritten with its scaling folded into B.
    /// </summary>
    /// <param name="peft">A model whose active adapter is routed (Lily), or any method that declares its factors (LoRA, CLoRA: exported at rank p·r).</param>
    /// <param name="directory">Where to write <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (replaced together).</param>
    /// <param name="mixtures">Mixtures <c>[E]</c> by routed layer path (e.g. from <see cref="RoutingCalibration.CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>); a layer not listed uses its frozen mixture.</param>
    /// <returns>The config written.</returns>
    /// <exception cref="ArgumentException">A routed layer has no mixture given and none frozen, or a mixture does not fit.</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank factors (<see cref="AdapterLinear.UpdateFactors"/>; LoRA, CLoRA and Lily do).</exception>
    public static LoraConfig ExportAsLora<TModel>(this PeftModel<TModel> peft, string directory, IReadOnlyDictionary<string, double[]>? mixtures = null)
        where TModel : nn.Module
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        using var scope = NewDisposeScope();
        var layers = LayerFactors.Of(peft, mixtures, nameof(mixtures));
        var config = LoraConfigFor(peft, layers, layers.Select(l => l.Rank).ToList());
        using (no_grad())
        {
            var tensors = layers.SelectMany(l => Pair(l.Path, l.A, l.B.mul(l.Scaling))).ToList();
            Write(peft, directory, config, tensors);
        }
        return config;
    }

    /// <summary>
    /// Truncates every layer's update <c>ΔW = scaling · B A</c> of the active adapter to its best
    /// rank-<paramref name="rank"/> approximation (SVD through the thin factors, see
    /// <see cref="LowRankTruncation.Truncate"/>) and writes the result as a rank-<paramref name="rank"/> LoRA
    /// in <paramref name="directory"/>. At the adapter's own rank the outputs are reproduced.
    /// </summary>
    /// <param name="peft">A model whose active adapter is LoRA, or routed (Lily) at fixed mixtures, or any method that declares its factors.</param>
    /// <param name="directory">Where to write (both files replaced together).</param>
    /// <param name="rank">The new rank k, from 1 to the adapter's rank r.</param>
    /// <param name="mixtures">For routed layers: mixtures by layer path, as in <see cref="ExportAsLora{TModel}"/>.</param>
    /// <returns>The energy kept per layer and overall, and the config written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rank"/> is below 1 or above r.</exception>
    /// <exception cref="ArgumentException">A routed layer has no mixture given and none frozen, or a mixture does not fit.</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank factors (<see cref="AdapterLinear.UpdateFactors"/>; LoRA, CLoRA and Lily do).</exception>
    public static LoraSqueezeReport ExportSqueezedLora<TModel>(this PeftModel<TModel> peft, string directory, int rank, IReadOnlyDictionary<string, double[]>? mixtures = null)
        where TModel : nn.Module
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        using var scope = NewDisposeScope();
        var layers = LayerFactors.Of(peft, mixtures, nameof(mixtures));
        int r = CommonRank(layers);
        if (rank < 1 || rank > r)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"The new rank must be between 1 and the adapter's rank r = {r}.");
        return Squeeze(peft, directory, layers, LoraConfigFor(peft, rank));
    }

    /// <summary>
    /// As <see cref="ExportSqueezedLora{TModel}"/>, but each layer keeps its own rank: the smallest k whose
    /// truncation keeps at least <paramref name="energy"/> of that layer's <c>Σ σ²</c> (so 0.9 keeps 90 % of every
    /// layer's ΔW energy). The config's <c>r</c> is the most common of those ranks (the larger on a tie);
    /// every other layer gets <c>rank_pattern</c> and <c>alpha_pattern</c> entries (both k, so its scaling is 1 too)
    /// keyed by its escaped full path, which PEFT loads.
    /// The source layers may differ in rank (a LoRA with its own <c>rank_pattern</c>).
    /// </summary>
    /// <param name="peft">A model whose active adapter is LoRA, or routed (Lily) at fixed mixtures, or any method that declares its factors.</param>
    /// <param name="directory">Where to write (both files replaced together).</param>
    /// <param name="energy">The share of each layer's energy to keep, in (0, 1].</param>
    /// <param name="mixtures">For routed layers: mixtures by layer path, as in <see cref="ExportAsLora{TModel}"/>.</param>
    /// <returns>Per layer the energy kept (its rank in <see cref="LoraSqueezeReport.Config"/>), overall, and the config written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="energy"/> is not in (0, 1].</exception>
    /// <exception cref="ArgumentException">A routed layer has no mixture given and none frozen, or a mixture does not fit.</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank factors (<see cref="AdapterLinear.UpdateFactors"/>).</exception>
    public static LoraSqueezeReport ExportSqueezedLoraByEnergy<TModel>(this PeftModel<TModel> peft, string directory, double energy, IReadOnlyDictionary<string, double[]>? mixtures = null)
        where TModel : nn.Module
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!(energy > 0 && energy <= 1)) throw new ArgumentOutOfRangeException(nameof(energy), energy, "The energy to keep must be in (0, 1].");
        using var scope = NewDisposeScope();
        var layers = LayerFactors.Of(peft, mixtures, nameof(mixtures));
        var ranks = layers.Select(l => RankForEnergy(LowRankTruncation.Truncate(l.B, l.A, l.Scaling, l.Rank).SingularValues, energy)).ToList();
        return Squeeze(peft, directory, layers, LoraConfigFor(peft, layers, ranks));
    }

    // The smallest k whose leading singular values hold `energy` of Σ σ² (1 for a zero update).
    private static int RankForEnergy(double[] singularValues, double energy)
    {
        for (int k = 1; k < singularValues.Length; k++)
        {
            if (SpectrumMath.EnergyKept(singularValues, k) >= energy - 1e-12) return k;
        }
        return Math.Max(1, singularValues.Length);
    }

    // Truncates each layer to its rank in `config`, with the scaling `config` gives it, and writes the adapter.
    private static LoraSqueezeReport Squeeze<TModel>(PeftModel<TModel> peft, string directory, List<LayerFactors> layers, LoraConfig config)
        where TModel : nn.Module
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var reports = new List<LayerSqueeze>();
        double total = 0, kept = 0;
        foreach (var layer in layers)
        {
            int k = config.RankFor(layer.Path);
            var squeezed = LowRankTruncation.Truncate(layer.B, layer.A, layer.Scaling, k, targetScaling: config.ScalingFor(layer.Path));
            tensors.AddRange(Pair(layer.Path, squeezed.A.to(layer.A.dtype), squeezed.B.to(layer.A.dtype)));
            reports.Add(new LayerSqueeze(layer.Path, layer.Rank, squeezed.EnergyKept, squeezed.ResidualFrobeniusNorm, squeezed.SingularValues));
            total += squeezed.SingularValues.Sum(s => s * s);
            kept += squeezed.SingularValues.Take(k).Sum(s => s * s);
        }
        Write(peft, directory, config, tensors);
        return new LoraSqueezeReport(config.R, reports, total == 0 ? 1.0 : kept / total, config);
    }

    private static int CommonRank(List<LayerFactors> layers)
    {
        var ranks = layers.Select(l => l.Rank).Distinct().ToList();
        if (ranks.Count != 1)
            throw new NotSupportedException($"The layers have different ranks ({string.Join(", ", ranks)}); squeeze them to one rank with ExportSqueezedLoraByEnergy, or export them as they are with ExportAsLora.");
        return ranks[0];
    }

    // Layer i gets rank ranks[i]: the most common rank (the larger on a tie) is r, every other layer gets
    // rank_pattern and alpha_pattern entries keyed by its escaped path, so every layer's scaling is 1.
    private static LoraConfig LoraConfigFor<TModel>(PeftModel<TModel> peft, List<LayerFactors> layers, List<int> ranks) where TModel : nn.Module
    {
        int r = ranks.GroupBy(k => k).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First().Key;
        var rankPattern = new OrderedMap<string, int>(StringComparer.Ordinal);
        var alphaPattern = new OrderedMap<string, double>(StringComparer.Ordinal);
        for (int i = 0; i < layers.Count; i++)
        {
            if (ranks[i] == r) continue;
            var key = System.Text.RegularExpressions.Regex.Escape(layers[i].Path);
            rankPattern.Add(key, ranks[i]);
            alphaPattern.Add(key, ranks[i]);
        }
        return rankPattern.Count == 0 ? LoraConfigFor(peft, r) : LoraConfigFor(peft, r) with { RankPattern = rankPattern, AlphaPattern = alphaPattern };
    }

    // The same layers, the same modules to save; scaling alpha / r = 1.
    private static LoraConfig LoraConfigFor<TModel>(PeftModel<TModel> peft, int r) where TModel : nn.Module
    {
        var source = peft.Config;
        return new LoraConfig
        {
            TargetModules = source.TargetModules,
            TargetModulesRegex = source.TargetModulesRegex,
            ExcludeModules = source.ExcludeModules,
            ExcludeModulesRegex = source.ExcludeModulesRegex,
            LayersToTransform = source.LayersToTransform,
            LayersPattern = source.LayersPattern,
            ModulesToSave = source.ModulesToSave,
            InferenceMode = source.InferenceMode,
            AutocastAdapterDtype = source.AutocastAdapterDtype,
            R = r,
            LoraAlpha = r,
            LoraDropout = source is LoraConfig lora ? lora.LoraDropout : 0,
        };
    }

    private static IEnumerable<KeyValuePair<string, Tensor>> Pair(string path, Tensor a, Tensor b) =>
    [
        KeyValuePair.Create($"{AdapterStateDict.Prefix}{path}.lora_A.weight", a.contiguous()),
        KeyValuePair.Create($"{AdapterStateDict.Prefix}{path}.lora_B.weight", b.contiguous()),
    ];

    private static void Write<TModel>(PeftModel<TModel> peft, string directory, LoraConfig config, List<KeyValuePair<string, Tensor>> tensors)
        where TModel : nn.Module
    {
        var adapter = peft.ActiveAdapter!;
        foreach (var m in peft.ModulesToSaveOf(adapter))
        {
            // The module holds the adapter's trained values unless adapters are disabled; show them while copying.
            var live = m.Live;
            m.Show(adapter);
            try
            {
                using (no_grad())
                    tensors.AddRange(AdapterStateDict.Entries([], [(m.Path, m.Module)]).Select(e => KeyValuePair.Create(e.Key, e.Parameter.detach().clone())));
            }
            finally
            {
                m.Show(live);
            }
        }
        AdapterFiles.Write(directory, AdapterConfigFile.ToJson(config), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }
}
