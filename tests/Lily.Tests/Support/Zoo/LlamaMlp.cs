using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>Llama's SwiGLU MLP: down_proj(silu(gate_proj(x)) · up_proj(x)), no biases, concrete Linear fields.</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    /// <summary>Creates the MLP.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="intermediate">Width between up and down.</param>
    public LlamaMlp(long hidden, long intermediate) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(hidden, intermediate, hasBias: false);
        up_proj = nn.Linear(hidden, intermediate, hasBias: false);
        down_proj = nn.Linear(intermediate, hidden, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Applies the gated MLP.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = nn.functional.silu(gate_proj.call(x)) * up_proj.call(x);
        return down_proj.call(gated).MoveToOuterDisposeScope();
    }
}
