using Lily.Analysis;
using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Writes the active adapter as a plain PEFT LoRA adapter (<c>peft_type "LORA"</c>) that any PEFT
/// loader reads: a Lily adapter at fixed mixtures exactly (<see cref="ExportAsLora{TModel}"/>), or any
/// LoRA or fixed-mixture Lily adapter truncated to a smaller rank (<see cref="ExportSqueezedLora{TModel}"/>).
/// The exported config selects the same layers (it copies the target, exclude and layer fields and
/// <c>modules_to_save</c>, whose trained values are written too) and has <c>lora_alpha = r</c>, so its
/// scaling is 1 and the factors carry the adapter's own scaling.
/// </summary>
public static class LoraExport
{
    /// <summary>
    /// Writes the active adapter as a rank-r LoRA in <paramref name="directory"/>: for a Lily layer at
    /// mixture p̄, <c>lora_A = A</c> (<c>[r, d_in]</c>) and <c>lora_B = scaling · (Σ_e p̄_e B_e)ᵀ</c>
    /// (<c>[d_out, r]</c>), so the loaded LoRA computes what the Lily model with that routing frozen
    /// computes. A LoRA adapter is rewritten with its scaling folded into B.
    /// </summary>
    /// <param name="peft">A model whose active adapter is Lily, or any method that declares its factors (LoRA, CLoRA: exported at rank p·r).</param>
    /// <param name="directory">Where to write <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (replaced together).</param>
    /// <param name="mixtures">Mixtures <c>[E]</c> by Lily layer path (e.g. from <see cref="LilyRoutingCalibration.CalibrateRouting{TModel}(PeftModel{TModel}, IEnumerable{Tensor})"/>); a layer not listed uses its frozen mixture.</param>
    /// <returns>The config written.</returns>
    /// <exception cref="ArgumentException">A Lily layer has no mixture given and none frozen, or a mixture does not fit.</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank factors (<see cref="AdapterLinear.UpdateFactors"/>; LoRA, CLoRA and Lily do).</exception>
    public static LoraConfig ExportAsLora<TModel>(this PeftModel<TModel> peft, string directory, IReadOnlyDictionary<string, double[]>? mixtures = null)
        where TModel : nn.Module
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        using var scope = NewDisposeScope();
        var layers = LayerFactors.Of(peft, mixtures, nameof(mixtures));
        int r = CommonRank(layers);
        var config = LoraConfigFor(peft, r);
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
    /// <see cref="LoraSqueeze.Truncate"/>) and writes the result as a rank-<paramref name="rank"/> LoRA
    /// in <paramref name="directory"/>. At the adapter's own rank the outputs are reproduced.
    /// </summary>
    /// <param name="peft">A model whose active adapter is LoRA, or Lily at fixed mixtures.</param>
    /// <param name="directory">Where to write (both files replaced together).</param>
    /// <param name="rank">The new rank k, from 1 to the adapter's rank r.</param>
    /// <param name="mixtures">For Lily: mixtures by layer path, as in <see cref="ExportAsLora{TModel}"/>.</param>
    /// <returns>The energy kept per layer and overall, and the config written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rank"/> is below 1 or above r.</exception>
    /// <exception cref="ArgumentException">A Lily layer has no mixture given and none frozen, or a mixture does not fit.</exception>
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
        var config = LoraConfigFor(peft, rank);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var reports = new List<LayerSqueeze>();
        foreach (var layer in layers)
        {
            // Target scaling 1: the exported config's lora_alpha / r is 1.
            var squeezed = LoraSqueeze.Truncate(layer.B, layer.A, layer.Scaling, rank, targetScaling: 1.0);
            tensors.AddRange(Pair(layer.Path, squeezed.A.to(layer.A.dtype), squeezed.B.to(layer.A.dtype)));
            reports.Add(new LayerSqueeze(layer.Path, layer.Rank, squeezed.EnergyKept, squeezed.ResidualFrobeniusNorm, squeezed.SingularValues));
        }
        Write(peft, directory, config, tensors);

        double total = reports.Sum(l => l.SingularValues.Sum(s => s * s));
        double kept = reports.Sum(l => l.SingularValues.Take(rank).Sum(s => s * s));
        return new LoraSqueezeReport(rank, reports, total == 0 ? 1.0 : kept / total, config);
    }

    private static int CommonRank(List<LayerFactors> layers)
    {
        var ranks = layers.Select(l => l.Rank).Distinct().ToList();
        if (ranks.Count != 1)
            throw new NotSupportedException($"The layers have different ranks ({string.Join(", ", ranks)}); a LoRA config without rank_pattern holds one.");
        return ranks[0];
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
