namespace Lily.Distributed;

/// <summary>A contiguous run of items, <c>[Start, Start + Length)</c>: one rank's part of a dataset or of a batch.</summary>
/// <param name="Start">The first item.</param>
/// <param name="Length">How many items (0 when there are fewer items than ranks).</param>
public readonly record struct ShardRange(long Start, long Length)
{
    /// <summary>One past the last item.</summary>
    public long End => Start + Length;
}
