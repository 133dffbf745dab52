using Lily.Serialization;
using Microsoft.Extensions.Logging;

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
    /// <exception cref="InvalidOperationException">A hooked adapter never ran although the model did (see <see cref="VerifyAdaptersApplied"/>).</exception>
    /// <remarks>
    /// Holds each folder's lock file (<c>.lily-lock</c>, left in place) while writing, so saves into one folder from
    /// several threads or processes run one after the other. Every folder is checked, and every file of every adapter
    /// written and flushed, before the first pair is replaced; a failure up to there changes nothing. Only the
    /// commit of each folder (writing a small record, then renaming) follows, folder after folder.
    /// </remarks>
    /// <exception cref="IOException">A named adapter's folder is a file or a symbolic link; another writer held the folder's lock too long.</exception>
    public void Save(string directory, AdapterLayout layout = AdapterLayout.Peft) => SaveWithFaultHook(directory, layout, faultAt: null);

    /// <summary><see cref="Save"/> with a test hook called with (folder, step) after each step of the file protocol.</summary>
    internal void SaveWithFaultHook(string directory, AdapterLayout layout, Action<string, string>? faultAt)
    {
        ThrowIfUnloaded();
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        if (!Enum.IsDefined(layout)) throw new ArgumentOutOfRangeException(nameof(layout), layout, "Unknown layout.");
        VerifyAdaptersApplied();
        var payloads = configs.Keys.Select(name =>
        {
            var config = configs[name].ForSave(LayersOf(name).Select(a => a.Layer).ToList(), logger);
            var json = AdapterConfigFile.ToJson(config);
            // Modules to save hold one adapter's values at a time, so this adapter's are copied while shown.
            var (tensors, metadata) = WithModulesShown(name, () =>
            {
                var (live, meta) = AdapterStateDict.ForSave(StateDictEntries(name), layout);
                var copies = new Dictionary<torch.Tensor, torch.Tensor>(ReferenceEqualityComparer.Instance);
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
        // The name is checked before anything on disk is read.
        ValidateName(adapterName);
        if (configs.ContainsKey(adapterName)) throw new ArgumentException($"The model already has an adapter named '{adapterName}'.", nameof(adapterName));
        var (read, file) = AdapterFiles.Read(directory, logger);
        var config = read with { InferenceMode = !isTrainable };
        try
        {
            AddAdapter(adapterName, config, attachment);
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
            if (missing.Count > 0) logger.LogWarning("Keys missing from {File}, left as initialised: {Keys}", file.SourceName, string.Join(", ", missing));
            if (unexpected.Count > 0) logger.LogWarning("Keys in {File} that the model does not have, ignored: {Keys}", file.SourceName, string.Join(", ", unexpected));
        }
        catch
        {
            DeleteAdapter(adapterName);
            throw;
        }
        if (configs.Count == 1 && !isTrainable) Model.eval();
    }

    /// <summary>Every key of adapter <paramref name="adapterName"/>'s file and the tensor it names, in traversal order.</summary>
    internal List<AdapterStateDict.Entry> StateDictEntries(string adapterName) =>
        AdapterStateDict.Entries(LayersOf(adapterName).Select(a => (a.Path, a.Layer)), ModulesToSaveOf(adapterName).Select(m => (m.Path, m.Module)));

    /// <summary>The active adapter's keys (tests and tools).</summary>
    internal List<AdapterStateDict.Entry> StateDictEntries() => StateDictEntries(ActiveAdapter ?? DefaultAdapterName);

    // A detached copy of `tensor`, made once however many keys name it.
    private static torch.Tensor Snapshot(torch.Tensor tensor, Dictionary<torch.Tensor, torch.Tensor> copies)
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
