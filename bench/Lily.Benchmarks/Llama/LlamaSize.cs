namespace Lily.Benchmarks.Llama;

/// <summary>
/// Sizes of the adapter-overhead benchmark's Llama-style stack (issue 17): hidden 512, SwiGLU MLP 1376,
/// 8 heads of 64, batch 2 × 128 tokens.
/// </summary>
public static class LlamaSize
{
    /// <summary>Hidden width.</summary>
    public const int Hidden = 512;

    /// <summary>SwiGLU intermediate width.</summary>
    public const int Intermediate = 1376;

    /// <summary>Attention heads (all of them key/value heads too).</summary>
    public const int Heads = 8;

    /// <summary>Width of one head.</summary>
    public const int HeadDim = Hidden / Heads;

    /// <summary>Sequences per batch.</summary>
    public const int Batch = 2;

    /// <summary>Tokens per sequence.</summary>
    public const int Tokens = 128;

    /// <summary>The seven adapted projections of every block.</summary>
    public static IReadOnlyList<string> TargetModules { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
}
