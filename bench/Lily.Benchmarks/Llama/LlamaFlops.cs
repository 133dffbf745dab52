namespace Lily.Benchmarks.Llama;

/// <summary>
/// Multiply-adds of the matrix products of one <see cref="Lily.TestModels.Llama.LlamaDecoderLayer"/> of <see cref="LlamaStack"/> per token — the one place the
/// benchmark's FLOP count is written. Elementwise work (norms, RoPE, softmax, SiLU, routing's softmax
/// and mean) is not counted.
/// </summary>
/// <remarks>
/// <para>Base: the seven projections, <c>4·H² + 3·H·M</c>, and attention's two products <c>QKᵀ</c> and
/// <c>PV</c>, <c>2·T·H</c> per token (the full T × T scores are computed, mask or not).</para>
/// <para>LoRA: <c>r·(d_in + d_out)</c> per projection. Lily (batch-mean routing): the same with its rank,
/// plus the router <c>r·E</c>, plus the pool mix <c>E·r·d_out</c> once per batch (divided by the batch's tokens).</para>
/// <para>Training (input requires grad, base frozen): every product runs forward and in backward for the
/// gradient of its input; the base projections' weights get no gradient (2×), while attention's
/// products and every adapter product also need the gradient of their second operand (3×).
/// Inference: every product once.</para>
/// </remarks>
public static class LlamaFlops
{
    private static readonly (int In, int Out)[] Projections =
    [
        (LlamaSize.Hidden, LlamaSize.Hidden), (LlamaSize.Hidden, LlamaSize.Hidden), (LlamaSize.Hidden, LlamaSize.Hidden), (LlamaSize.Hidden, LlamaSize.Hidden),
        (LlamaSize.Hidden, LlamaSize.Intermediate), (LlamaSize.Hidden, LlamaSize.Intermediate), (LlamaSize.Intermediate, LlamaSize.Hidden),
    ];

    /// <summary>The frozen block's multiply-adds per token.</summary>
    public static double Base(bool training)
    {
        double projections = Projections.Sum(p => (double)p.In * p.Out);
        double attention = 2.0 * LlamaSize.Tokens * LlamaSize.Hidden;
        return training ? 2 * projections + 3 * attention : projections + attention;
    }

    /// <summary>The adapters' multiply-adds per token of one block: LoRA at <paramref name="rank"/> (experts 0) or Lily with <paramref name="experts"/> experts.</summary>
    public static double Adapter(int rank, int experts, bool training)
    {
        double tokens = LlamaSize.Batch * LlamaSize.Tokens;
        double perToken = Projections.Sum(p => (double)rank * (p.In + p.Out)
            + (experts > 0 ? rank * experts + experts * rank * (double)p.Out / tokens : 0));
        return training ? 3 * perToken : perToken;
    }

    /// <summary>Adapter multiply-adds as a share of the frozen block's.</summary>
    public static double Share(int rank, int experts, bool training) => Adapter(rank, experts, training) / Base(training);
}
