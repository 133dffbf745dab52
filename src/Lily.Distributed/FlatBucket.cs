using static TorchSharp.torch;

namespace Lily.Distributed;

/// <summary>One all-reduce's worth of the flat layout.</summary>
/// <param name="DType">The dtype the bucket travels in (float32 or float64).</param>
/// <param name="Elements">Its length, the tail included.</param>
/// <param name="Segments">The tensors in it.</param>
/// <param name="HasTail">True for the first bucket, which starts with the flags and the weight.</param>
internal sealed record FlatBucket(ScalarType DType, long Elements, IReadOnlyList<FlatSegment> Segments, bool HasTail);
