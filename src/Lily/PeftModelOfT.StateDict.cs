using Lily.Serialization;
using Lily.Tuners;

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

    /// <exception cref="ArgumentException">No adapter has that name.</exception>
    internal void RequireAdapter(string adapterName)
    {
        if (!configs.ContainsKey(adapterName))
            throw new ArgumentException($"No adapter named '{adapterName}'; the model has {string.Join(", ", configs.Keys)}.", nameof(adapterName));
    }
}
