using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// Holds one layer's scalar gate g as a module, so the library hangs it on the model like any other
/// adapter module (<c>q_proj.lora_gate.default.weight</c>) and saves it as <c>q_proj.lora_gate.weight</c>.
/// A Parameter registered directly on the adapter layer would not be attached to the model.
/// </summary>
public sealed class GatedLoraGate : nn.Module
{
    /// <summary>Creates the gate with value <paramref name="init"/>, shape <c>[]</c>.</summary>
    // begin-snippet: gated-gate
    public GatedLoraGate(double init, ScalarType dtype, Device device) : base(nameof(GatedLoraGate))
    {
        register_parameter("weight", new Parameter(tensor(init, dtype, device)));
    }

    /// <summary>
    /// The gate g, shape <c>[]</c>. Looked up each time rather than kept in a field: moving the model
    /// to another device makes a new Parameter object.
    /// </summary>
    public Parameter Weight => get_parameter("weight")!;
    // end-snippet
}
