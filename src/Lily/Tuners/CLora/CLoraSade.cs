using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// CLoRA's sample-agnostic diversity enhancement (SADE) for one layer j, in the form this library
/// assumes (docs/methods/clora.md): with <c>M_h = D_h Q_h U_h</c> (<c>d_in × d_out</c>),
/// <c>SADE_j = Σ_{h≠k} ‖M_hᵀ M_k‖_F²</c> over ordered pairs (each unordered pair counts twice).
/// </summary>
/// <remarks>
/// Computed through the factors, never forming a <c>d × d</c> matrix: with the Gram blocks
/// <c>G^D_{hk} = D_hᵀ D_k</c> and <c>G^U_h = U_h U_hᵀ</c> (r × r) and <c>X_{hk} = Q_hᵀ G^D_{hk} Q_k</c>,
/// <c>‖M_hᵀ M_k‖_F² = tr(X_{hk}ᵀ G^U_h X_{hk} G^U_k)</c>.
/// <para>
/// Exact cost in multiply-adds. The d-part depends only on the bases a group shares:
/// <see cref="DownGram"/> is one <c>[p·r, d_in] × [d_in, p·r]</c> product, <c>p² r² d_in</c> (all p × p
/// blocks of r × r; SADE reads the p(p−1) off-diagonal ones, which are the cross-Grams <c>D_hᵀ D_k</c> that
/// measure how the bases overlap, so the d_in term is p² r² d_in, not p r² d_in); <see cref="UpGram"/> is p
/// products <c>[r, d_out] × [d_out, r]</c>, <c>p r² d_out</c>. The r-part, <see cref="FromGrams"/>, is per
/// layer: <c>4 p² r³</c> for the four r × r products of each of the p² pairs, plus <c>p² r²</c>.
/// <see cref="PeftModel{TModel}.AuxiliaryLoss()"/> computes the d-part once per group and call
/// (<see cref="AuxiliaryLossContext"/>), so m layers sharing one group cost
/// <c>p² r² d_in + p r² d_out + m (4 p² r³ + p² r²)</c>, against <c>m p² (2 d_in d_out² + …)</c> for the
/// naive pairwise products of d × d terms. <see cref="Of"/> does both parts for one layer.
/// </para>
/// </remarks>
public static class CLoraSade
{
    /// <summary>SADE of one layer from its factors, a scalar that records gradients to all three.</summary>
    /// <param name="d">Down bases <c>[p·r, d_in]</c> (block h is <c>D_hᵀ</c>).</param>
    /// <param name="u">Up bases <c>[p·r, d_out]</c> (block h is <c>U_h</c>).</param>
    /// <param name="q">Cores <c>[p, r, r]</c>.</param>
    /// <exception cref="ArgumentException">The shapes do not fit together.</exception>
    public static Tensor Of(Tensor d, Tensor u, Tensor q)
    {
        ArgumentNullException.ThrowIfNull(q);
        Check(d, u, q);
        long p = q.shape[0], r = q.shape[1];
        using var scope = NewDisposeScope();
        return FromGrams(DownGram(d, p, r), UpGram(u, p, r), q).MoveToOuterDisposeScope();
    }

    /// <summary>The Gram blocks of the down bases, <c>[p, p, r, r]</c>: block (h, k) is <c>D_hᵀ D_k</c>. Cost <c>p² r² d_in</c>.</summary>
    /// <param name="d">Down bases <c>[p·r, d_in]</c>.</param>
    /// <param name="p">Number of base pairs.</param>
    /// <param name="r">Rank of each base.</param>
    public static Tensor DownGram(Tensor d, long p, long r)
    {
        ArgumentNullException.ThrowIfNull(d);
        return d.matmul(d.t()).view(p, r, p, r).permute(0, 2, 1, 3);
    }

    /// <summary>The Gram blocks of the up bases, <c>[p, r, r]</c>: block h is <c>U_h U_hᵀ</c>. Cost <c>p r² d_out</c>.</summary>
    /// <param name="u">Up bases <c>[p·r, d_out]</c>.</param>
    /// <param name="p">Number of base pairs.</param>
    /// <param name="r">Rank of each base.</param>
    public static Tensor UpGram(Tensor u, long p, long r)
    {
        ArgumentNullException.ThrowIfNull(u);
        var blocks = u.view(p, r, -1);
        return blocks.bmm(blocks.transpose(1, 2));
    }

    /// <summary>
    /// SADE of one layer from its cores and the Gram blocks of its bases (<see cref="DownGram"/>,
    /// <see cref="UpGram"/>): no d-dependent work, <c>4 p² r³ + p² r²</c>.
    /// </summary>
    /// <param name="gramD"><c>[p, p, r, r]</c> from <see cref="DownGram"/>.</param>
    /// <param name="gramU"><c>[p, r, r]</c> from <see cref="UpGram"/>.</param>
    /// <param name="q">Cores <c>[p, r, r]</c>.</param>
    public static Tensor FromGrams(Tensor gramD, Tensor gramU, Tensor q)
    {
        ArgumentNullException.ThrowIfNull(gramD);
        ArgumentNullException.ThrowIfNull(gramU);
        ArgumentNullException.ThrowIfNull(q);
        long p = q.shape[0];
        using var scope = NewDisposeScope();
        var x = q.transpose(1, 2).unsqueeze(1).matmul(gramD).matmul(q.unsqueeze(0)); // [p, p, r, r]: Q_hᵀ G^D_hk Q_k
        var y = gramU.unsqueeze(1).matmul(x).matmul(gramU.unsqueeze(0));             // G^U_h X_hk G^U_k
        var pairs = x.mul(y).sum([2, 3]);                                            // [p, p]: ‖M_hᵀ M_k‖_F²
        var offDiagonal = ones(p, p, dtype: pairs.dtype, device: pairs.device).sub_(eye(p, dtype: pairs.dtype, device: pairs.device));
        return pairs.mul(offDiagonal).sum().MoveToOuterDisposeScope();
    }

    private static void Check(Tensor d, Tensor u, Tensor q)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(u);
        if (q.dim() != 3 || q.shape[1] != q.shape[2] || d.dim() != 2 || u.dim() != 2 || d.shape[0] != q.shape[0] * q.shape[1] || u.shape[0] != d.shape[0])
            throw new ArgumentException(
                $"Expected D [p·r, d_in], U [p·r, d_out] and Q [p, r, r]; got D [{string.Join(", ", d.shape)}], U [{string.Join(", ", u.shape)}], Q [{string.Join(", ", q.shape)}].");
    }
}
