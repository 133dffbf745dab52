using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// A model carrying adapters: the model object itself (<see cref="Model"/>, changed in place),
/// the config, and the operations on its adapters — counting, disabling, merging, removing,
/// saving. Create one with <see cref="PeftModel.Create{TModel}"/>.
/// </summary>
/// <typeparam name="TModel">The model's type.</typeparam>
public sealed class PeftModel<TModel> where TModel : nn.Module
{
    // By parameter path, not object: moving the model to another device makes new Parameter objects.
    private readonly IReadOnlyDictionary<string, bool> originalRequiresGrad;
    private bool unloaded;

    private readonly IReadOnlyList<(string Path, nn.Module Module)> modulesToSave;

    internal PeftModel(TModel model, PeftConfig config, IReadOnlyList<AdaptedModule> adapters,
        IReadOnlyList<(string Path, nn.Module Module)> modulesToSave, IReadOnlyDictionary<string, bool> originalRequiresGrad)
    {
        Model = model;
        Config = config;
        AdaptedModules = adapters;
        this.modulesToSave = modulesToSave;
        this.originalRequiresGrad = originalRequiresGrad;
    }

    /// <summary>The model, with adapter layers in place of the targeted Linear layers.</summary>
    public TModel Model { get; }

    /// <summary>The config the adapters were created from.</summary>
    public PeftConfig Config { get; }

    /// <summary>The adapter layers, in the model's traversal order.</summary>
    public IReadOnlyList<AdaptedModule> AdaptedModules { get; }

    /// <summary>Paths of modules trained in full and saved with the adapter (<see cref="PeftConfig.ModulesToSave"/>).</summary>
    public IReadOnlyList<string> ModulesToSavePaths => modulesToSave.Select(m => m.Path).ToList();

    /// <summary>
    /// The parameters to optimise: every parameter that requires gradients, each tensor once.
    /// Build the optimizer after moving the model to its device (moving makes new parameters).
    /// </summary>
    public IReadOnlyList<Parameter> TrainableParameters() =>
        Model.parameters().Where(p => p.requires_grad).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToList();

    /// <summary>Trainable and total parameter counts (shared tensors once) and a row per adapted module.</summary>
    public ParameterSummary GetParameterSummary() =>
        ParameterSummary.Of(Model, AdaptedModules.Select(a => (a.Path, a.Layer)).ToList());

    /// <summary>
    /// Turns every adapter off until the returned scope is disposed: inside it, the model computes
    /// exactly what the base model computes. Scopes nest.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        ThrowIfUnloaded();
        var previous = AdaptedModules.Select(a => a.Layer.AdapterDisabled).ToArray();
        foreach (var a in AdaptedModules) a.Layer.AdapterDisabled = true;
        return new Restore(() =>
        {
            for (int i = 0; i < previous.Length; i++) AdaptedModules[i].Layer.AdapterDisabled = previous[i];
        });
    }

    /// <summary>Folds every adapter into its base weight (LoRA). Forward then costs what the base model costs.</summary>
    /// <exception cref="NotSupportedException">An adapter cannot be merged (Lily); nothing is changed.</exception>
    public void Merge()
    {
        ThrowIfUnloaded();
        var blocker = AdaptedModules.FirstOrDefault(a => !a.Layer.CanMerge);
        if (blocker is not null)
        {
            try { blocker.Layer.Merge(); }
            catch (NotSupportedException e) { throw new NotSupportedException($"Cannot merge '{blocker.Path}': {e.Message}", e); }
        }
        foreach (var a in AdaptedModules) a.Layer.Merge();
    }

    /// <summary>Undoes <see cref="Merge"/>, restoring the base weights (up to float rounding).</summary>
    public void Unmerge()
    {
        ThrowIfUnloaded();
        foreach (var a in AdaptedModules.Where(a => a.Layer.Merged)) a.Layer.Unmerge();
    }

    /// <summary>
    /// Merges every adapter, then removes the adapter layers: the model holds plain Linear layers
    /// whose weights include the updates.
    /// </summary>
    /// <exception cref="NotSupportedException">An adapter cannot be merged (Lily); nothing is changed.</exception>
    public TModel MergeAndUnload()
    {
        Merge();
        return Unload();
    }

    /// <summary>
    /// Removes the adapter layers: each parent gets its original Linear back, and every parameter's
    /// <c>requires_grad</c> is restored to what it was before injection. Unmerged updates are dropped.
    /// This handle is unusable afterwards.
    /// </summary>
    public TModel Unload()
    {
        ThrowIfUnloaded();
        foreach (var a in AdaptedModules) ModuleTree.ReplaceChild(a.Parent, a.Name, a.Layer.BaseLayer);
        foreach (var (name, p) in Model.named_parameters())
        {
            if (originalRequiresGrad.TryGetValue(name, out bool requiresGrad)) p.requires_grad = requiresGrad;
        }
        unloaded = true;
        return Model;
    }

    /// <summary>
    /// Writes <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> into
    /// <paramref name="directory"/> (created if needed), with PEFT's field names and tensor keys.
    /// Each file is replaced atomically, and the weights only once the config is fully written (the
    /// config follows them at once): a save that fails while writing leaves the previous pair intact.
    /// </summary>
    /// <param name="directory">Where to write the two files.</param>
    /// <param name="layout">How shared tensors are stored: once per layer as PEFT does (default), or once.</param>
    public void Save(string directory, AdapterLayout layout = AdapterLayout.Peft)
    {
        ThrowIfUnloaded();
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Enum.IsDefined(layout)) throw new ArgumentOutOfRangeException(nameof(layout), layout, "Unknown layout.");
        // Everything that can fail on our side happens before the first byte is written.
        string config = Serialization.AdapterConfigFile.ToJson(Config);
        var (tensors, metadata) = Serialization.AdapterStateDict.ForSave(StateDictEntries(), layout);
        Directory.CreateDirectory(directory);
        // The two files must change together: new weights next to an old config (or the reverse) no
        // longer load. So the config is written to its temporary file first, the weights are then
        // saved (atomically) from inside that write, and the small config is renamed into place only
        // once the weights are: any failure before that leaves both previous files as they were.
        var configBytes = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(config);
        Serialization.AtomicFile.Write(Path.Combine(directory, Serialization.AdapterConfigFile.FileName), stream =>
        {
            stream.Write(configBytes);
            stream.Flush();
            Serialization.SafeTensorsWriter.Save(Path.Combine(directory, PeftModel.WeightsFileName), tensors, metadata);
        });
    }

    internal List<Serialization.AdapterStateDict.Entry> StateDictEntries() =>
        Serialization.AdapterStateDict.Entries(AdaptedModules, modulesToSave);

    private void ThrowIfUnloaded()
    {
        if (unloaded) throw new InvalidOperationException("The adapters were unloaded from this model; create a new PeftModel to adapt it again.");
    }

    private sealed class Restore(Action action) : IDisposable
    {
        private Action? action = action;

        public void Dispose()
        {
            action?.Invoke();
            action = null;
        }
    }
}
