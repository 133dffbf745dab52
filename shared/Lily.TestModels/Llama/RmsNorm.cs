using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>Llama's RMSNorm: x / sqrt(mean(x²) + eps) · weight, over the last dimension.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    /// <summary>Creates the norm with a weight of ones.</summary>
    /// <param name="dim">Size of the last dimension.</param>
    /// <param name="eps">Added to the mean square before the square root.</param>
    /// <param name="device">Where the weight lives (null: the CPU).</param>
    public RmsNorm(long dim, double eps = 1e-6, Device? device = null) : base(nameof(RmsNorm))
    {
        weight = nn.Parameter(ones(dim, device: device));
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>
    /// True (default): the forward's temporaries are freed when it returns. False: they belong to the caller's
    /// dispose scope (the benchmarks measure both).
    /// </summary>
    public bool Scoped { get; set; } = true;

    /// <summary>Normalises <paramref name="x"/> over its last dimension.</summary>
    public override Tensor forward(Tensor x)
    {
        if (!Scoped) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x) => x * (x.pow(2).mean([-1L], keepdim: true) + eps).rsqrt() * weight;
}
