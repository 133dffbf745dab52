using static TorchSharp.torch;

namespace Lily.Distributed;

/// <summary>
/// Where each trainable tensor sits in the flat buffers that travel between ranks. Tensors are reduced in
/// float64 when they are float64 and in float32 otherwise, in buckets of at most a given size (a tensor
/// larger than a bucket gets one of its own). The first bucket starts with a tail of one flag per tensor
/// (1 when this rank has a gradient for it) and this rank's weight, so that the all-reduce that carries
/// the gradients also tells every rank which tensors got a gradient anywhere and the total weight.
/// </summary>
internal sealed class FlatLayout
{
    /// <summary>The largest weight the float32 tail carries exactly.</summary>
    public const long MaxExactWeight = 1L << 24;

    private FlatLayout(IReadOnlyList<long[]> shapes, IReadOnlyList<ScalarType> dtypes, IReadOnlyList<FlatBucket> buckets, long signature)
    {
        Shapes = shapes;
        DTypes = dtypes;
        Buckets = buckets;
        Signature = signature;
    }

    /// <summary>Each tensor's shape, in the order of the trainable parameters.</summary>
    public IReadOnlyList<long[]> Shapes { get; }

    /// <summary>Each tensor's dtype.</summary>
    public IReadOnlyList<ScalarType> DTypes { get; }

    /// <summary>The buckets, in the order they are reduced.</summary>
    public IReadOnlyList<FlatBucket> Buckets { get; }

    /// <summary>A hash of the shapes and dtypes, the same on ranks that hold the same trainable tensors.</summary>
    public long Signature { get; }

    /// <summary>The number of tensors.</summary>
    public int Count => Shapes.Count;

    /// <summary>The number of tensor elements (the tail not counted).</summary>
    public long Elements => Buckets.Sum(b => b.Segments.Sum(s => s.Length));

    /// <summary>Lays out <paramref name="parameters"/> in buckets of at most <paramref name="bucketElements"/> elements.</summary>
    public static FlatLayout For(IReadOnlyList<Tensor> parameters, long bucketElements)
    {
        var shapes = parameters.Select(p => p.shape).ToList();
        var dtypes = parameters.Select(p => p.dtype).ToList();
        var buckets = new List<FlatBucket>();
        var tailLength = parameters.Count + 1;
        foreach (var group in Enumerable.Range(0, parameters.Count).GroupBy(i => ReductionType(dtypes[i])).OrderBy(g => g.Key == ScalarType.Float64))
        {
            var segments = new List<FlatSegment>();
            long offset = buckets.Count == 0 ? tailLength : 0;
            foreach (var i in group)
            {
                var length = parameters[i].numel();
                if (segments.Count > 0 && offset + length > bucketElements)
                {
                    buckets.Add(new FlatBucket(group.Key, offset, segments, buckets.Count == 0));
                    segments = [];
                    offset = 0;
                }

                if (length > int.MaxValue) throw new NotSupportedException($"Trainable tensor {i} has {length} elements; MPI counts stop at {int.MaxValue}.");
                segments.Add(new FlatSegment(i, offset, length));
                offset += length;
            }

            buckets.Add(new FlatBucket(group.Key, offset, segments, buckets.Count == 0));
        }

        return new FlatLayout(shapes, dtypes, buckets, Hash(shapes, dtypes));
    }

    /// <summary>True when <paramref name="parameters"/> have this layout's shapes and dtypes, in order.</summary>
    public bool Matches(IReadOnlyList<Tensor> parameters) =>
        parameters.Count == Count && parameters.Select((p, i) => p.dtype == DTypes[i] && p.shape.AsSpan().SequenceEqual(Shapes[i])).All(x => x);

    /// <summary>The dtype a tensor of <paramref name="dtype"/> is reduced in.</summary>
    public static ScalarType ReductionType(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => ScalarType.Float64,
        ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 => ScalarType.Float32,
        _ => throw new NotSupportedException($"Trainable tensors of dtype {dtype} cannot be averaged; only floating-point tensors train."),
    };

    private static long Hash(IReadOnlyList<long[]> shapes, IReadOnlyList<ScalarType> dtypes)
    {
        // FNV-1a over (count, dtype, rank, dims...) of every tensor; the same on every rank for the same model.
        const ulong prime = 1099511628211UL;
        var h = 14695981039346656037UL;
        void Mix(long v)
        {
            h ^= unchecked((ulong)v);
            h *= prime;
        }

        Mix(shapes.Count);
        for (var i = 0; i < shapes.Count; i++)
        {
            Mix((long)dtypes[i]);
            Mix(shapes[i].Length);
            foreach (var d in shapes[i]) Mix(d);
        }

        return unchecked((long)h);
    }
}
