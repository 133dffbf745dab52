using Lily.Injection;
using Lily.Matching;
using Lily.Serialization;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily;

public sealed partial class PeftModel<TModel>
{
    /// <summary>
    /// Writes every adapter as PEFT's <c>save_pretrained</c> does: the default adapter's
    /// <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> in <paramref name="directory"/>
    /// (created if needed), each other adapter's in <c>directory/&lt;name&gt;/</c>, with PEFT's field
    /// names and tensor keys. Everything is gathered before the first byte is written, and each
    /// adapter's two files are replaced together: a save that fails leaves the previous files intact.
    /// </summary>
    /// <param name="directory">Where to write.</param>
    /// <param name="layout">How shared tensors are stored: once per layer as PEFT does (default), or once.</param>
    /// <param name="verifyApplied">
    /// Check first that every adapted layer took part in the output (<see cref="VerifyAdaptersApplied()"/>).
    /// Turn it off only for layers you know no data reaches (an expert that was never routed to).
    /// </param>
    /// <exception cref="InvalidOperationException">
    /// An adapter is not applied on some layer although the model ran (see <see cref="VerifyAdaptersApplied()"/>),
    /// there is no adapter, or the adapters live on the <c>meta</c> device; nothing is written.
    /// </exception>
    /// <remarks>
    /// Holds each folder's lock file (<c>.lily-lock</c>, left in place) while writing, so saves into one folder from
    /// several threads or processes run one after the other. Every folder is checked, and every file of every adapter
    /// written and flushed, before the first pair is replaced; a failure up to there changes nothing. Only the
    /// commit of each folder (writing a small record, then renaming) follows, folder after folder.
    /// </remarks>
    /// <exception cref="IOException">A named adapter's folder is a file or a symbolic link; another writer held the folder's lock too long.</exception>
    public void Save(string directory, AdapterLayout layout = AdapterLayout.Peft, bool verifyApplied = true) => SaveWithFaultHook(directory, layout, faultAt: null, verifyApplied);

    /// <summary><see cref="Save"/> with a test hook called with (folder, step) after each step of the file protocol.</summary>
    internal void SaveWithFaultHook(string directory, AdapterLayout layout, Action<string, string>? faultAt, bool verifyApplied = true)
    {
        ThrowIfUnloaded();
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        if (!Enum.IsDefined(layout)) throw new ArgumentOutOfRangeException(nameof(layout), layout, "Unknown layout.");
        if (configs.Count == 0) throw new InvalidOperationException("There is no adapter to save: every adapter was deleted.");
        if (sites.SelectMany(s => s.Adapters.Values).SelectMany(l => l.AdapterParameters()).Concat(modulesToSave.SelectMany(m => m.Module.parameters()))
            .FirstOrDefault(p => p.device_type == DeviceType.META) is not null)
        {
            throw new InvalidOperationException("The adapters live on the meta device, which holds shapes but no values, so there is nothing to save. " +
                "Build the model on a real device (cpu, cuda) to train and save; nothing was written.");
        }
        if (verifyApplied) VerifyAdaptersApplied();
        var payloads = configs.Keys.Select(name =>
        {
            var config = configs[name].ForSave(LayersOf(name).Select(a => a.Layer).ToList(), logger);
            var json = AdapterConfigFile.ToJson(config);
            // Modules to save hold one adapter's values at a time, so this adapter's are copied while shown.
            var (tensors, metadata) = WithModulesShown(name, () =>
            {
                var (live, meta) = AdapterStateDict.ForSave(StateDictEntries(name), layout);
                var copies = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
                return (live.Select(kv => KeyValuePair.Create(kv.Key, Snapshot(kv.Value, copies))).ToList(), meta);
            });
            return new AdapterFiles.Payload(name == DefaultAdapterName ? directory : Path.Combine(directory, name), json, tensors, metadata);
        }).ToList();
        foreach (var p in payloads.Where(p => p.Directory != directory)) CheckAdapterFolder(p.Directory);
        AdapterFiles.WriteAll(payloads, faultAt);
    }

    // A named adapter's folder must be a real folder inside the save directory: a symbolic link would send the save
    // (and the cleanup of its leftovers) somewhere else, and a file there would fail only after other pairs changed.
    private static void CheckAdapterFolder(string folder)
    {
        var kind = RegularFile.KindOf(folder);
        if (kind is RegularFile.Kind.Missing or RegularFile.Kind.Directory) return;
        throw new IOException(
            $"Cannot save an adapter into '{folder}': it is {RegularFile.Describe(kind)}, not a folder" +
            (kind == RegularFile.Kind.SymbolicLink ? " (links are not followed out of the save directory)" : "") +
            ". Nothing was written.");
    }

    /// <summary>
    /// Loads the adapter saved in <paramref name="directory"/> as adapter <paramref name="adapterName"/>
    /// (PEFT's <c>load_adapter</c>); the active adapter stays active. Checked in full before any weight
    /// is copied; after a failure the model is as it was.
    /// </summary>
    /// <param name="directory">Holds <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>.</param>
    /// <param name="adapterName">A new adapter name.</param>
    /// <param name="isTrainable">Keep the adapter trainable (PEFT's <c>is_trainable</c>); false by default: frozen, <c>inference_mode</c> true.</param>
    /// <param name="strict">Missing or unexpected tensors are errors (default). Mis-shaped tensors always are.</param>
    /// <param name="attachment">How to attach to layers not adapted yet.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed or does not fit the model; the message names the keys.</exception>
    public void LoadAdapter(string directory, string adapterName, bool isTrainable = false, bool strict = true, AdapterAttachment attachment = AdapterAttachment.Auto)
    {
        ThrowIfUnloaded();
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (Model.parameters().FirstOrDefault(p => p.device_type == DeviceType.META) is not null)
        {
            throw new InvalidOperationException("The model lives on the meta device, which holds shapes but no values, so no weights can be " +
                "loaded into it. Load into a model on a real device (cpu, cuda); the model is unchanged.");
        }
        // The name is checked before anything on disk is read.
        ValidateName(adapterName);
        if (configs.ContainsKey(adapterName)) throw new ArgumentException($"The model already has an adapter named '{adapterName}'.", nameof(adapterName));
        var (read, file) = AdapterFiles.Read(directory, logger);
        var config = read with { InferenceMode = !isTrainable };
        try
        {
            AddAdapterCore(adapterName, config, attachment, plan => UnsharedIfCopiesDiffer(plan, config, file, adapterName));
        }
        catch (ArgumentException e) when (e.ParamName is "config" or "model" || e is PathPatternException)
        {
            // The config came from the file, so a config that does not fit the model is a file that does not fit it.
            var configPath = Path.Combine(directory, AdapterConfigFile.FileName);
            var reason = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new InvalidDataException($"{configPath} does not fit this model: {reason}", e);
        }
        try
        {
            var (missing, unexpected) = WithModulesShown(adapterName, () => AdapterStateDict.Load(StateDictEntries(adapterName), file, strict));
            if (missing.Count > 0) Warn(adapterName, $"Keys missing from {file.SourceName}, left as initialised: {string.Join(", ", missing)}");
            if (unexpected.Count > 0) Warn(adapterName, $"Keys in {file.SourceName} that the model does not have, ignored: {string.Join(", ", unexpected)}");
        }
        catch
        {
            DeleteAdapter(adapterName);
            throw;
        }
        if (configs.Count == 1 && !isTrainable) Model.eval();
    }

    // PEFT shares Lily's tensors only in the adapter get_peft_model creates; an adapter it adds later holds
    // every layer's own A and pool under the same keys. Copies that differ mark such a file: it is loaded
    // as written, unshared, so it computes what it computed in PEFT.
    private PeftConfig? UnsharedIfCopiesDiffer(Injector.Plan plan, PeftConfig config, SafeTensorsReader file, string adapterName)
    {
        if (config.WithoutSharing() is not { } unshared) return null;
        var entries = AdapterStateDict.Entries(plan.Layers.Select(l => (l.Target.Path, l.Layer)), []);
        if (AdapterStateDict.FirstDifferingCopies(entries, file) is not var (first, other, difference)) return null;
        Warn(adapterName,
            $"from {file.SourceName} shares nothing: '{first}' and '{other}', which {config.PeftType} shares, differ (largest difference {difference:G4}). "
            + "PEFT writes such a file for an adapter added after the first (add_adapter / load_adapter skip the cross-layer sharing). "
            + "Loaded as written: every layer keeps its own tensors, so outputs match PEFT's for this adapter.");
        return unshared;
    }

    /// <summary>Every key of adapter <paramref name="adapterName"/>'s file and the tensor it names, in traversal order.</summary>
    internal List<AdapterStateDict.Entry> StateDictEntries(string adapterName) =>
        AdapterStateDict.Entries(LayersOf(adapterName).Select(a => (a.Path, a.Layer)), ModulesToSaveOf(adapterName).Select(m => (m.Path, m.Module)));

    /// <summary>The active adapter's keys (tests and tools).</summary>
    internal List<AdapterStateDict.Entry> StateDictEntries() => StateDictEntries(ActiveAdapter ?? DefaultAdapterName);

    // A detached copy of `tensor`, made once however many keys name it.
    private static Tensor Snapshot(Tensor tensor, Dictionary<Tensor, Tensor> copies)
    {
        if (!copies.TryGetValue(tensor, out var copy))
        {
            using (torch.no_grad()) copy = tensor.detach().clone();
            copies.Add(tensor, copy);
        }
        return copy;
    }

    // Modules to save hold the values of one adapter at a time: show adapter `name`'s while its file
    // is read or written, then put back what ran before.
    private T WithModulesShown<T>(string name, Func<T> action)
    {
        var shown = modulesToSave.Select(m => m.Live).ToArray();
        foreach (var m in modulesToSave) m.Show(name);
        try
        {
            return action();
        }
        finally
        {
            for (int i = 0; i < shown.Length; i++) modulesToSave[i].Show(shown[i]);
        }
    }
}
