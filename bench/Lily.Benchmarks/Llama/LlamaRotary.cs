using static TorchSharp.torch;

namespace Lily.Benchmarks.Llama;

/// <summary>
/// Rotary position embedding over the last dimension (the half-split form Llama uses), with the cos and
/// sin tables of <see cref="LlamaSize.Tokens"/> positions made once on the device.
/// </summary>
public sealed class LlamaRotary : IDisposable
{
    private readonly Tensor cos;
    private readonly Tensor sin;

    /// <summary>Tables for heads of <paramref name="headDim"/> features and <paramref name="positions"/> positions.</summary>
    public LlamaRotary(long headDim, long positions, Device device)
    {
        using var scope = NewDisposeScope();
        var invFreq = 1.0 / pow(10000.0, arange(0, headDim, 2, dtype: ScalarType.Float64) / headDim);
        var freqs = outer(arange(positions, dtype: ScalarType.Float64), invFreq);
        var angles = cat([freqs, freqs], -1);
        cos = angles.cos().to(ScalarType.Float32, device).MoveToOuterDisposeScope();
        sin = angles.sin().to(ScalarType.Float32, device).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates <c>[batch, heads, tokens, headDim]</c>.</summary>
    public Tensor Apply(Tensor x)
    {
        long tokens = x.shape[^2];
        var halves = x.chunk(2, -1);
        var rotated = cat([-halves[1], halves[0]], -1);
        return x * cos.narrow(0, 0, tokens) + rotated * sin.narrow(0, 0, tokens);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        cos.Dispose();
        sin.Dispose();
    }
}
