namespace Lily.Distributed.Tests;

public sealed class ShardsTests
{
    [Theory]
    [InlineData(12, 2)]
    [InlineData(10, 3)]
    [InlineData(2, 3)]
    [InlineData(0, 4)]
    [InlineData(1001, 7)]
    public void The_ranks_runs_cover_every_item_once_in_order_and_differ_by_at_most_one(long count, int size)
    {
        var ranges = Enumerable.Range(0, size).Select(r => Shards.Range(count, r, size)).ToList();

        ranges[0].Start.Should().Be(0);
        for (var r = 1; r < size; r++) ranges[r].Start.Should().Be(ranges[r - 1].End);
        ranges[^1].End.Should().Be(count);
        (ranges.Max(x => x.Length) - ranges.Min(x => x.Length)).Should().BeLessThanOrEqualTo(1);
        // The longer runs come first.
        ranges.Select(x => x.Length).Should().BeInDescendingOrder();
    }

    [Fact]
    public void Ten_over_three_is_four_three_three()
    {
        Enumerable.Range(0, 3).Select(r => Shards.Range(10, r, 3)).Should().Equal(new ShardRange(0, 4), new ShardRange(4, 3), new ShardRange(7, 3));
    }

    [Theory]
    [InlineData(-1, 0, 2)]
    [InlineData(10, 2, 2)]
    [InlineData(10, -1, 2)]
    [InlineData(10, 0, 0)]
    public void Bad_arguments_are_refused(long count, int rank, int size)
    {
        var act = () => Shards.Range(count, rank, size);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
