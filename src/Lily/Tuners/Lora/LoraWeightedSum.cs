using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>The factors of one layer of a weighted combination of LoRA layers (<see cref="LoraCombination"/>).</summary>
internal static class LoraWeightedSum
{
    /// <summary>
    /// A <c>[rank, d_in]</c> and B <c>[d_out, rank]</c> of the combination of <paramref name="sources"/> in one
    /// layer, zero-padded to <paramref name="rank"/> where the combination has fewer rows (as PEFT pads <c>cat</c>),
    /// in float64 on the sources' device.
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="LoraCombination.Linear"/> with different ranks in this layer.</exception>
    public static (Tensor A, Tensor B) Combine(IReadOnlyList<(LoraLinear Layer, double Weight)> sources, LoraCombination combination, int rank, string path)
    {
        using var scope = NewDisposeScope();
        var a = sources.Select(s => s.Layer.LoraA.weight!.detach().to(ScalarType.Float64)).ToList();
        var b = sources.Select(s => s.Layer.LoraB.weight!.detach().to(ScalarType.Float64)).ToList();
        var ws = sources.Select(s => s.Weight * s.Layer.Scaling).ToList();
        Tensor newA, newB;
        switch (combination)
        {
            case LoraCombination.Linear:
                if (sources.Any(s => s.Layer.Rank != rank))
                    throw new ArgumentException($"'{path}': combination Linear needs every adapter at rank {rank} here, got {string.Join(", ", sources.Select(s => s.Layer.Rank))}.", "adapters");
                newA = Sum(a.Select((t, i) => t * (Math.Sign(ws[i]) * Math.Sqrt(Math.Abs(ws[i])))));
                newB = Sum(b.Select((t, i) => t * Math.Sqrt(Math.Abs(ws[i]))));
                break;
            case LoraCombination.Cat:
                newA = cat(a.Select((t, i) => t * ws[i]).ToList(), 0);
                newB = cat(b, 1);
                break;
            default:
                // PEFT's svd weighs each update (which already carries sᵢ) by wᵢ·sᵢ; the exact variant by wᵢ.
                var delta = Sum(sources.Select((s, i) => b[i].matmul(a[i]) * (s.Layer.Scaling * (combination == LoraCombination.Svd ? ws[i] : s.Weight))));
                var (u, sv, vh) = linalg.svd(delta, fullMatrices: false);
                int k = (int)Math.Min(rank, sv.shape[0]);
                newB = u[.., ..k] * sv[..k].unsqueeze(0);
                newA = vh[..k];
                break;
        }
        long have = newA.shape[0];
        if (have < rank)
        {
            newA = cat([newA, zeros(rank - have, newA.shape[1], dtype: newA.dtype, device: newA.device)], 0);
            newB = cat([newB, zeros(newB.shape[0], rank - have, dtype: newB.dtype, device: newB.device)], 1);
        }
        return (newA.MoveToOuterDisposeScope(), newB.MoveToOuterDisposeScope());
    }

    private static Tensor Sum(IEnumerable<Tensor> terms) => terms.Aggregate((x, y) => x + y);
}
