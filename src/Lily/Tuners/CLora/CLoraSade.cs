using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// CLoRA's sample-agnostic diversity enhancement (SADE) for one layer j, in the form this library
/// assumes (docs/methods/clora.md): with <c>M_h = D_h Q_h U_h</c> (<c>d_in × d_out</c>),
/// <c>SADE_j = Σ_{h≠k} ‖M_hᵀ M_k‖_F²</c> over ordered pairs (each unordered pair counts twice).
/// </summary>
/// <remarks>
/// Computed through the factors, never forming a <c>d × d</c> matrix: with the Gram blocks
/// <c>G^D_{hk} = D_hᵀ D_k</c> and <c>G^U_h = U_h U_hᵀ</c> (r × r) and <c>X_{hk} = Q_hᵀ G^D_{hk} Q_k</c>,
/// <c>‖M_hᵀ M_k‖_F² = tr(X_{hk}ᵀ G^U_h X_{hk} G^U_k)</c>. Cost: <c>p² r² d_in + p r² d_out</c> for the
/// Grams and <c>p² r³</c> for the rest, against <c>p² d³</c> for the naive pairwise products.
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
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(q);
        if (q.dim() != 3 || q.shape[1] != q.shape[2] || d.dim() != 2 || u.dim() != 2 || d.shape[0] != q.shape[0] * q.shape[1] || u.shape[0] != d.shape[0])
            throw new ArgumentException(
                $"Expected D [p·r, d_in], U [p·r, d_out] and Q [p, r, r]; got D [{string.Join(", ", d.shape)}], U [{string.Join(", ", u.shape)}], Q [{string.Join(", ", q.shape)}].");
        long p = q.shape[0], r = q.shape[1];
        using var scope = NewDisposeScope();
        var gramD = d.matmul(d.t()).view(p, r, p, r).permute(0, 2, 1, 3);           // [p, p, r, r]: D_hᵀ D_k
        var blocksU = u.view(p, r, -1);
        var gramU = blocksU.bmm(blocksU.transpose(1, 2));                           // [p, r, r]: U_h U_hᵀ
        var x = q.transpose(1, 2).unsqueeze(1).matmul(gramD).matmul(q.unsqueeze(0)); // [p, p, r, r]: Q_hᵀ G^D_hk Q_k
        var y = gramU.unsqueeze(1).matmul(x).matmul(gramU.unsqueeze(0));             // G^U_h X_hk G^U_k
        var pairs = x.mul(y).sum([2, 3]);                                            // [p, p]: ‖M_hᵀ M_k‖_F²
        var offDiagonal = ones(p, p, dtype: pairs.dtype, device: pairs.device).sub_(eye(p, dtype: pairs.dtype, device: pairs.device));
        return pairs.mul(offDiagonal).sum().MoveToOuterDisposeScope();
    }
}
