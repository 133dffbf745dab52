using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>Llama's RMSNorm: x / sqrt(mean(x²) + eps) · weight, over the last dimension.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    /// <summary>Creates the norm with a weight of ones.</summary>
    /// <param name="dim">Size of the last dimension.</param>
    /// <param name="eps">Added to the mean square before the square root.</param>
    public RmsNorm(long dim, double eps = 1e-6) : base(nameof(RmsNorm))
    {
        weight = nn.Parameter(ones(dim));
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>Normalises <paramref name="x"/> over its last dimension.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var normed = x * (x.pow(2).mean([-1L], keepdim: true) + eps).rsqrt();
        return (normed * weight).MoveToOuterDisposeScope();
    }
}
