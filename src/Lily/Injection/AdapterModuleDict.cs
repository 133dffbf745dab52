using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// One kind of adapter module of one layer, by adapter name: PEFT's <c>lora_A</c> <c>ModuleDict</c>,
/// so parameters live at PEFT's in-memory paths, e.g. <c>q_proj.lora_A.default.weight</c>.
/// </summary>
internal sealed class AdapterModuleDict : nn.Module, IAdapterInternal
{
    public AdapterModuleDict() : base(nameof(AdapterModuleDict)) { }

    /// <summary>Number of adapters holding a module here.</summary>
    public int Count => named_children().Count();

    /// <summary>Registers <paramref name="module"/> as adapter <paramref name="adapterName"/>'s.</summary>
    public void Add(string adapterName, nn.Module module) => register_module(adapterName, module);

    /// <summary>Removes adapter <paramref name="adapterName"/>'s module (TorchSharp unregisters on null).</summary>
    public void Remove(string adapterName) => register_module(adapterName, null!);
}
