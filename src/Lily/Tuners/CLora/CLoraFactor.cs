using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// One CLoRA factor as a module holding a single parameter <c>weight</c>: the shared base spaces
/// <c>clora_D</c> and <c>clora_U</c>, or a layer's own cores <c>clora_Q</c>. A module rather than a
/// bare parameter so that injection hangs it on the model under PEFT-style paths
/// (<c>q_proj.clora_D.default.weight</c>) and saving writes <c>q_proj.clora_D.weight</c>.
/// </summary>
public sealed class CLoraFactor : nn.Module
{
    /// <summary>Wraps <paramref name="value"/> (detached from every dispose scope) as the trainable weight.</summary>
    /// <param name="name">The module's type name, e.g. <c>CLoraBases</c>.</param>
    /// <param name="value">The initial values; becomes the parameter's storage.</param>
    public CLoraFactor(string name, Tensor value) : base(name)
    {
        // Detached: a Parameter made inside a caller's dispose scope would otherwise die with it.
        register_parameter("weight", (Parameter)new Parameter(value).DetachFromDisposeScope());
    }

    /// <summary>
    /// The weight. Looked up each time rather than kept in a field: moving the model to another device
    /// or dtype makes a new Parameter object.
    /// </summary>
    public Parameter Weight => get_parameter("weight")!;
}
