using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// What takes a Linear's place in <see cref="AdapterAttachment.Replace"/> mode: the original layer
/// as <c>base_layer</c> plus one container per kind of adapter module, as PEFT's tuner layers are
/// laid out (<c>q_proj.base_layer.weight</c>, <c>q_proj.lora_A.default.weight</c>).
/// </summary>
internal sealed class TunerLinear : nn.Module<Tensor, Tensor>, IAdapterInternal
{
    private readonly AdapterSite site;

    public TunerLinear(AdapterSite site) : base(nameof(TunerLinear))
    {
        this.site = site;
        register_module("base_layer", site.BaseLayer);
    }

    /// <summary>The site this wrapper serves.</summary>
    public AdapterSite Site => site;

    public void RegisterKind(string kind, AdapterModuleDict dict) => register_module(kind, dict);

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => site.Forward(input);
}
