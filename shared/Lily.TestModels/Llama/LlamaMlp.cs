using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>Llama's SwiGLU MLP: down_proj(silu(gate_proj(x)) · up_proj(x)), no biases, concrete Linear fields.</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    /// <summary>Creates the MLP.</summary>
    /// <param name="hidden">Model width.</param>
    /// <param name="intermediate">Width between up and down.</param>
    /// <param name="device">Where the weights live (null: the CPU).</param>
    public LlamaMlp(long hidden, long intermediate, Device? device = null) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(hidden, intermediate, hasBias: false, device: device);
        up_proj = nn.Linear(hidden, intermediate, hasBias: false, device: device);
        down_proj = nn.Linear(intermediate, hidden, hasBias: false, device: device);
        RegisterComponents();
    }

    /// <inheritdoc cref="RmsNorm.Scoped"/>
    public bool Scoped { get; set; } = true;

    /// <summary>How the projections are applied (null: each Linear is called).</summary>
    public LlamaProjection? Projection { get; set; }

    /// <summary>Applies the gated MLP.</summary>
    public override Tensor forward(Tensor x)
    {
        if (!Scoped) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x)
    {
        var gated = nn.functional.silu(Project(nameof(gate_proj), gate_proj, x)) * Project(nameof(up_proj), up_proj, x);
        return Project(nameof(down_proj), down_proj, gated);
    }

    private Tensor Project(string name, Linear projection, Tensor x) => Projection is null ? projection.call(x) : Projection(name, projection, x);
}
