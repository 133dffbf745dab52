namespace Lily.Distributed;

/// <summary>
/// Splits items over ranks: contiguous runs, in rank order, that cover every item once; when the count
/// does not divide, the first <c>count % size</c> ranks get one item more. Splitting each global batch
/// (rather than the dataset) keeps the global batches, and so the training, the same for any number of
/// ranks; weight each rank's mean loss by its share with <see cref="DataParallel{TModel}.AverageGradients(long)"/>.
/// </summary>
public static class Shards
{
    /// <summary>Rank <paramref name="rank"/>'s run of <paramref name="count"/> items split over <paramref name="size"/> ranks.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative count, a size below 1, or a rank outside the world.</exception>
    public static ShardRange Range(long count, int rank, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"The rank must be 0 to {size - 1}.");
        var baseLength = count / size;
        var extra = count % size;
        var start = rank * baseLength + Math.Min(rank, extra);
        return new ShardRange(start, baseLength + (rank < extra ? 1 : 0));
    }

    /// <summary>This process's run of <paramref name="count"/> items in <paramref name="world"/>.</summary>
    public static ShardRange Range(long count, MpiWorld world)
    {
        ArgumentNullException.ThrowIfNull(world);
        return Range(count, world.Rank, world.Size);
    }

    /// <summary>This process's items of <paramref name="items"/> in <paramref name="world"/>.</summary>
    public static IReadOnlyList<T> Of<T>(IReadOnlyList<T> items, MpiWorld world)
    {
        ArgumentNullException.ThrowIfNull(items);
        var range = Range(items.Count, world);
        return items.Skip((int)range.Start).Take((int)range.Length).ToList();
    }
}
