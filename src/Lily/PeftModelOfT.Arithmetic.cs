using Lily.Serialization;

namespace Lily;

public sealed partial class PeftModel<TModel>
{
    /// <summary>
    /// Adapter <paramref name="adapterName"/>'s tensors under the keys of its <c>adapter_model.safetensors</c>
    /// (PEFT's <c>get_peft_model_state_dict</c>: <c>base_model.model.&lt;path&gt;.lora_A.weight</c>, no adapter
    /// name), modules to save included, in traversal order. The tensors are detached copies; a tensor that
    /// layers share appears under each layer's key as one copy.
    /// </summary>
    /// <exception cref="ArgumentException">No adapter has that name.</exception>
    public IReadOnlyDictionary<string, torch.Tensor> GetAdapterStateDict(string adapterName)
    {
        ThrowIfUnloaded();
        RequireAdapter(adapterName);
        var copies = new Dictionary<torch.Tensor, torch.Tensor>(ReferenceEqualityComparer.Instance);
        return WithModulesShown(adapterName, () => new OrderedMap<string, torch.Tensor>(
            StateDictEntries(adapterName).Select(e => KeyValuePair.Create(e.Key, Snapshot(e.Parameter, copies)))));
    }

    /// <summary>
    /// Copies <paramref name="stateDict"/> into adapter <paramref name="adapterName"/> (PEFT's
    /// <c>set_peft_model_state_dict</c>), with the keys of <see cref="GetAdapterStateDict"/>. Every key, shape,
    /// dtype and shared copy is checked first, as for a file: after a failure nothing has changed.
    /// </summary>
    /// <param name="adapterName">An existing adapter.</param>
    /// <param name="stateDict">Tensors by key (floating point; converted to the adapter's dtype and device).</param>
    /// <param name="strict">Missing or unexpected keys are errors (default); otherwise they are returned.</param>
    /// <returns>The adapter's keys the dictionary lacks, and its keys the adapter does not have.</returns>
    /// <exception cref="InvalidDataException">A key, shape or dtype does not fit, or copies of a shared tensor differ.</exception>
    public (IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected) SetAdapterStateDict(string adapterName, IReadOnlyDictionary<string, torch.Tensor> stateDict, bool strict = true)
    {
        ThrowIfUnloaded();
        RequireAdapter(adapterName);
        ArgumentNullException.ThrowIfNull(stateDict);
        // Through the safetensors form, so a dictionary is checked exactly as a file is.
        using var buffer = new MemoryStream();
        SafeTensorsWriter.Write(buffer, stateDict);
        var file = SafeTensorsReader.Read(buffer.ToArray(), "the state dict");
        return WithModulesShown(adapterName, () => AdapterStateDict.Load(StateDictEntries(adapterName), file, strict));
    }

    /// <summary>
    /// Adds LoRA adapter <paramref name="newName"/> combining <paramref name="adapters"/> with
    /// <paramref name="weights"/> (PEFT's <c>add_weighted_adapter</c>). Its config is the first adapter's with
    /// the union of the targets, rank from <paramref name="combination"/> (<see cref="LoraCombination.Linear"/>:
    /// the common rank; <see cref="LoraCombination.Cat"/>: the sum; SVD: <paramref name="svdRank"/> or the
    /// largest) and <c>lora_alpha = r</c>, no rank or alpha pattern. Each layer combines the adapters present
    /// there. With one adapter the combination is <see cref="LoraCombination.Linear"/>, as in PEFT. The new
    /// adapter is inactive, as <see cref="AddAdapter"/> leaves it. Lily adapters: export them as LoRA first.
    /// </summary>
    /// <exception cref="ArgumentException">A name is unknown or taken, the lists differ in length, Linear gets different ranks, or the targets mix a list and a regex.</exception>
    /// <exception cref="NotSupportedException">An adapter is not LoRA.</exception>
    public void AddWeightedAdapter(IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName,
        LoraCombination combination = LoraCombination.Svd, int? svdRank = null)
    {
        ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(weights);
        if (adapters.Count == 0) throw new ArgumentException("Name at least one adapter.", nameof(adapters));
        if (weights.Count != adapters.Count) throw new ArgumentException($"{adapters.Count} adapters but {weights.Count} weights.", nameof(weights));
        if (weights.Any(w => !double.IsFinite(w))) throw new ArgumentException("Weights must be finite.", nameof(weights));
        if (!Enum.IsDefined(combination)) throw new ArgumentOutOfRangeException(nameof(combination), combination, "Unknown combination.");
        if (svdRank is < 1) throw new ArgumentOutOfRangeException(nameof(svdRank), svdRank, "The rank must be at least 1.");
        var sources = adapters.Select(name =>
        {
            RequireAdapter(name);
            return configs[name] as LoraConfig ?? throw new NotSupportedException(
                $"Adapter '{name}' is {configs[name].PeftType}; AddWeightedAdapter combines LoRA adapters (export a Lily adapter with ExportAsLora and load that).");
        }).ToList();
        if (adapters.Count == 1) combination = LoraCombination.Linear;
        var ranks = sources.Select(c => Math.Max(c.R, c.RankPattern?.Values.DefaultIfEmpty(0).Max() ?? 0)).ToList();
        int rank = combination switch
        {
            LoraCombination.Linear when ranks.Distinct().Count() != 1 => throw new ArgumentException(
                $"Combination Linear needs adapters of one rank (got {string.Join(", ", ranks)}), as in PEFT; use Cat or an SVD combination.", nameof(adapters)),
            LoraCombination.Linear => ranks[0],
            LoraCombination.Cat => ranks.Sum(),
            _ => svdRank ?? ranks.Max(),
        };
        var config = sources[0] with { R = rank, LoraAlpha = rank, RankPattern = null, AlphaPattern = null, TargetModules = null, TargetModulesRegex = null };
        config = sources.All(c => c.TargetModules is not null)
            ? config with { TargetModules = sources.SelectMany(c => c.TargetModules!).Distinct(StringComparer.Ordinal).ToList() }
            : sources.All(c => c.TargetModulesRegex is not null)
                ? config with { TargetModulesRegex = string.Join("|", sources.Select(c => $"({c.TargetModulesRegex})")) }
                : throw new ArgumentException("The adapters' target modules mix lists and regular expressions; PEFT refuses that too.", nameof(adapters));

        AddAdapter(newName, config);
        try
        {
            foreach (var site in sites.Where(s => s.Adapters.ContainsKey(newName)))
            {
                var parts = adapters.Select((name, i) => (Layer: site.Adapters.GetValueOrDefault(name) as LoraLinear, Weight: weights[i]))
                    .Where(p => p.Layer is not null).Select(p => (p.Layer!, p.Weight)).ToList();
                if (parts.Count == 0)
                    throw new ArgumentException($"'{site.Path}' is a target of the combined adapter but none of [{string.Join(", ", adapters)}] adapts it.", nameof(adapters));
                var target = (LoraLinear)site.Adapters[newName];
                var (a, b) = LoraWeightedSum.Combine(parts, combination, rank, site.Path);
                using (torch.no_grad())
                using (a)
                using (b)
                {
                    target.LoraA.weight!.copy_(a);
                    target.LoraB.weight!.copy_(b);
                }
            }
        }
        catch
        {
            DeleteAdapter(newName);
            throw;
        }
    }

    private void RequireAdapter(string adapterName)
    {
        if (!configs.ContainsKey(adapterName))
            throw new ArgumentException($"No adapter named '{adapterName}'; the model has {string.Join(", ", configs.Keys)}.", nameof(adapterName));
    }
}
