namespace Lily.Tuners;

/// <summary>
/// Operations on LoRA adapters of a <see cref="PeftModel{TModel}"/>: LoRA-only, so they live in LoRA's folder
/// and are called like the model's own methods (<c>peft.AddWeightedAdapter(...)</c>).
/// </summary>
public static class LoraArithmetic
{
    /// <summary>
    /// Adds LoRA adapter <paramref name="newName"/> combining <paramref name="adapters"/> with
    /// <paramref name="weights"/> (PEFT's <c>add_weighted_adapter</c>). Its config is the first adapter's with
    /// the union of the targets, rank from <paramref name="combination"/> (<see cref="LoraCombination.Linear"/>:
    /// the common rank; <see cref="LoraCombination.Cat"/>: the sum; SVD: <paramref name="svdRank"/> or the
    /// largest) and <c>lora_alpha = r</c>, no rank or alpha pattern. Each layer combines the adapters present
    /// there. With one adapter the combination is <see cref="LoraCombination.Linear"/>, as in PEFT. The new
    /// adapter is inactive, as <see cref="PeftModel{TModel}.AddAdapter"/> leaves it. Lily adapters: export them as LoRA first.
    /// </summary>
    /// <param name="peft">The model holding the adapters.</param>
    /// <param name="adapters">The LoRA adapters to combine.</param>
    /// <param name="weights">One weight per adapter.</param>
    /// <param name="newName">The new adapter's name.</param>
    /// <param name="combination">How the pairs are combined.</param>
    /// <param name="svdRank">For the SVD combinations: the new rank (default the largest).</param>
    /// <exception cref="ArgumentException">A name is unknown or taken, the lists differ in length, Linear gets different ranks, or the targets mix a list and a regex.</exception>
    /// <exception cref="NotSupportedException">An adapter is not LoRA.</exception>
    public static void AddWeightedAdapter<TModel>(this PeftModel<TModel> peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName,
        LoraCombination combination = LoraCombination.Svd, int? svdRank = null)
        where TModel : torch.nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        peft.ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(weights);
        if (adapters.Count == 0) throw new ArgumentException("Name at least one adapter.", nameof(adapters));
        if (weights.Count != adapters.Count) throw new ArgumentException($"{adapters.Count} adapters but {weights.Count} weights.", nameof(weights));
        if (weights.Any(w => !double.IsFinite(w))) throw new ArgumentException("Weights must be finite.", nameof(weights));
        if (!Enum.IsDefined(combination)) throw new ArgumentOutOfRangeException(nameof(combination), combination, "Unknown combination.");
        if (svdRank is < 1) throw new ArgumentOutOfRangeException(nameof(svdRank), svdRank, "The rank must be at least 1.");
        var configs = peft.Configs;
        var sources = adapters.Select(name =>
        {
            peft.RequireAdapter(name);
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

        peft.AddAdapter(newName, config);
        try
        {
            foreach (var site in peft.Sites.Where(s => s.Adapters.ContainsKey(newName)))
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
            peft.DeleteAdapter(newName);
            throw;
        }
    }
}
