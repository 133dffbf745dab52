using static TorchSharp.torch;

namespace Lily.TestModels.Llama;

/// <summary>
/// Rotary position embedding in the Hugging Face Llama convention (rotate_half): rotates
/// [batch, heads, tokens, head_dim] by the positions 0..tokens-1, with cos/sin tables computed once.
/// The tables are non-persistent buffers, as HF keeps inv_freq, so they stay out of the state dict (and, in
/// TorchSharp 0.107, out of named_buffers too).
/// </summary>
public sealed class RotaryEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Tensor cos_cached;
    private readonly Tensor sin_cached;

    /// <summary>Precomputes the tables.</summary>
    /// <param name="headDim">Per-head features (even).</param>
    /// <param name="maxPositions">Longest sequence supported.</param>
    /// <param name="theta">RoPE base.</param>
    /// <param name="device">Where the tables live (null: torch's default device); the forward moves them to its input's device if they differ.</param>
    public RotaryEmbedding(long headDim, long maxPositions, double theta = 10000.0, Device? device = null) : base(nameof(RotaryEmbedding))
    {
        if (headDim % 2 != 0) throw new ArgumentException("The head dimension must be even.", nameof(headDim));
        using (var scope = NewDisposeScope())
        {
            var invFreq = 1.0 / pow(theta, arange(0, headDim, 2, dtype: ScalarType.Float64) / headDim);
            var freqs = outer(arange(maxPositions, dtype: ScalarType.Float64), invFreq);
            var emb = cat([freqs, freqs], -1);
            // Without a device the tables stay where torch's default device put them (the meta device, in a test).
            cos_cached = (device is null ? emb.cos().to(ScalarType.Float32) : emb.cos().to(ScalarType.Float32, device)).MoveToOuterDisposeScope();
            sin_cached = (device is null ? emb.sin().to(ScalarType.Float32) : emb.sin().to(ScalarType.Float32, device)).MoveToOuterDisposeScope();
        }
        register_buffer(nameof(cos_cached), cos_cached, persistent: false);
        register_buffer(nameof(sin_cached), sin_cached, persistent: false);
    }

    /// <inheritdoc cref="RmsNorm.Scoped"/>
    public bool Scoped { get; set; } = true;

    /// <summary>x · cos + rotate_half(x) · sin at each token's position.</summary>
    public override Tensor forward(Tensor x)
    {
        if (!Scoped) return Compute(x);
        using var scope = NewDisposeScope();
        return Compute(x).MoveToOuterDisposeScope();
    }

    private Tensor Compute(Tensor x)
    {
        long tokens = x.shape[^2];
        // TorchSharp's named_buffers skips non-persistent buffers, so Module.to() never moves these tables:
        // bring them to the input's dtype and device here (no copy when they already match).
        var cos = cos_cached.narrow(0, 0, tokens).to(x.dtype, x.device);
        var sin = sin_cached.narrow(0, 0, tokens).to(x.dtype, x.device);
        var halves = x.chunk(2, -1);
        var rotated = cat([-halves[1], halves[0]], -1);
        return x * cos + rotated * sin;
    }
}
