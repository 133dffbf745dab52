using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>RMSNorm: <c>x / √(mean(x²) + ε) · w</c>.</summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>A norm over <paramref name="dim"/> features with unit weight, on <paramref name="device"/>.</summary>
    public LlamaRmsNorm(long dim, Device device) : base(nameof(LlamaRmsNorm))
    {
        weight = nn.Parameter(ones(dim, device: device));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => x * (x.pow(2).mean([-1L], keepdim: true) + 1e-6).rsqrt() * weight;
}
