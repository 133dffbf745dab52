namespace Lily.Distributed;

/// <summary>Where one trainable tensor sits in a bucket.</summary>
/// <param name="Parameter">Its index in the trainable parameters.</param>
/// <param name="Offset">Its first element in the bucket.</param>
/// <param name="Length">Its number of elements.</param>
internal sealed record FlatSegment(int Parameter, long Offset, long Length);
