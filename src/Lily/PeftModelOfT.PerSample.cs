using Lily.Injection;

namespace Lily;

public sealed partial class PeftModel<TModel>
{
    /// <summary>The name that runs a sample with no adapter in <see cref="UseAdapterPerSample"/>: PEFT's <c>"__base__"</c>.</summary>
    public const string BaseAdapterName = PerSampleAdapters.BaseName;

    /// <summary>
    /// Runs a mixed-adapter batch until the returned scope is disposed (PEFT's <c>model(x, adapter_names=…)</c>):
    /// in every forward pass inside it, sample <c>i</c> of the batch (the first dimension of each adapted
    /// layer's input) runs with adapter <c>adapterNames[i]</c>, or with none for <see cref="BaseAdapterName"/>.
    /// Each adapter's samples form one sub-batch at every layer, so the output equals running those samples
    /// alone with that adapter active (for Lily's batch-mean routing: routed together, as one batch of their own).
    /// The active adapter plays no part; <see cref="DisableAdapters"/> inside the scope still runs the base model.
    /// </summary>
    /// <param name="adapterNames">One adapter name (or <see cref="BaseAdapterName"/>) per sample of the batches to come.</param>
    /// <returns>A scope; disposing it returns to one adapter per batch. Scopes nest.</returns>
    /// <exception cref="ArgumentException">A name is not an adapter of the model, or the list is empty.</exception>
    /// <exception cref="InvalidOperationException">The model is in training mode, or an adapter is merged (PEFT refuses both).</exception>
    /// <exception cref="NotSupportedException">The model has modules to save, which hold one adapter's values at a time.</exception>
    public IDisposable UseAdapterPerSample(IReadOnlyList<string> adapterNames)
    {
        ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(adapterNames);
        if (adapterNames.Count == 0) throw new ArgumentException("Give one adapter name per sample of the batch.", nameof(adapterNames));
        var unknown = adapterNames.Where(n => n != BaseAdapterName && !configs.ContainsKey(n)).Distinct().ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"No adapter named {string.Join(", ", unknown.Select(n => $"'{n}'"))}; the model has {string.Join(", ", configs.Keys)} (and '{BaseAdapterName}' runs the base model).",
                nameof(adapterNames));
        if (Model.training)
            throw new InvalidOperationException("Mixed-adapter batches are for inference: call eval() on the model first (PEFT refuses adapter_names in training mode too).");
        if (sites.Any(s => s.Adapters.Values.Any(l => l.Merged)))
            throw new InvalidOperationException("Unmerge the adapters before running a mixed-adapter batch (PEFT refuses merged adapters too).");
        if (modulesToSave.Count > 0)
            throw new NotSupportedException(
                $"Mixed-adapter batches do not support modules to save ({string.Join(", ", modulesToSave.Select(m => m.Path))}): each holds one adapter's values at a time.");

        var perSample = new PerSampleAdapters(adapterNames.ToList());
        var previous = sites.ToDictionary(s => s, s => s.PerSample);
        foreach (var site in sites) site.PerSample = perSample;
        return new Restore(() =>
        {
            foreach (var (site, before) in previous) site.PerSample = before;
            perSample.Dispose();
        });
    }
}
