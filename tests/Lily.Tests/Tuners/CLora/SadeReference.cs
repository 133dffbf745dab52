using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>SADE the slow way, for comparison: the d_in × d_out terms formed explicitly.</summary>
internal static class SadeReference
{
    /// <summary>M_h = D_h Q_h U_h as d_in × d_out matrices, Σ_{h≠k} ‖M_hᵀ M_k‖_F² (records gradients).</summary>
    public static Tensor Naive(Tensor d, Tensor u, Tensor q)
    {
        long p = q.shape[0], r = q.shape[1];
        var m = Enumerable.Range(0, (int)p).Select(h => d[TensorIndex.Slice(h * r, (h + 1) * r)].t().matmul(q[h]).matmul(u[TensorIndex.Slice(h * r, (h + 1) * r)])).ToList();
        var total = zeros([], d.dtype);
        for (int h = 0; h < p; h++)
            for (int k = 0; k < p; k++)
                if (h != k) total = total + m[h].t().matmul(m[k]).square().sum();
        return total;
    }
}
