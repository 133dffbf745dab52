using static TorchSharp.torch;

namespace Lily.Distributed.Tests;

public sealed class FlatLayoutTests
{
    [Fact]
    public void Float32_tensors_fill_buckets_in_order_and_the_first_bucket_carries_one_flag_per_tensor_and_the_weight()
    {
        using var scope = NewDisposeScope();
        Tensor[] tensors = [zeros(10), zeros(3, 4), zeros(5), zeros(20)];

        var layout = FlatLayout.For(tensors, bucketElements: 30);

        layout.Elements.Should().Be(10 + 12 + 5 + 20);
        layout.Buckets.Should().HaveCount(2);
        var first = layout.Buckets[0];
        first.HasTail.Should().BeTrue();
        // The tail is 4 flags and the weight, then the tensors: 5 + 10 + 12 = 27 ≤ 30; the 5 would make 32.
        first.Segments.Should().Equal(new FlatSegment(0, 5, 10), new FlatSegment(1, 15, 12));
        first.Elements.Should().Be(27);
        layout.Buckets[1].Segments.Should().Equal(new FlatSegment(2, 0, 5), new FlatSegment(3, 5, 20));
        layout.Buckets[1].HasTail.Should().BeFalse();
    }

    [Fact]
    public void Float64_tensors_travel_in_their_own_bucket_and_half_precision_ones_in_float32()
    {
        using var scope = NewDisposeScope();
        Tensor[] tensors = [zeros(4, dtype: ScalarType.Float64), zeros(4, dtype: ScalarType.BFloat16), zeros(4)];

        var layout = FlatLayout.For(tensors, bucketElements: 1000);

        layout.Buckets.Select(b => b.DType).Should().Equal(ScalarType.Float32, ScalarType.Float64);
        layout.Buckets[0].Segments.Select(s => s.Parameter).Should().Equal(1, 2);
        layout.Buckets[1].Segments.Select(s => s.Parameter).Should().Equal(0);
    }

    [Fact]
    public void A_tensor_larger_than_a_bucket_gets_a_bucket_of_its_own()
    {
        using var scope = NewDisposeScope();
        var layout = FlatLayout.For([zeros(100), zeros(2)], bucketElements: 10);
        layout.Buckets.Select(b => b.Segments.Count).Should().Equal(1, 1);
    }

    [Fact]
    public void The_signature_changes_with_a_shape_and_matching_checks_shapes_and_dtypes()
    {
        using var scope = NewDisposeScope();
        var layout = FlatLayout.For([zeros(2, 3), zeros(4)], 100);

        FlatLayout.For([zeros(3, 2), zeros(4)], 100).Signature.Should().NotBe(layout.Signature);
        FlatLayout.For([zeros(2, 3), zeros(4)], 100).Signature.Should().Be(layout.Signature);
        layout.Matches([zeros(2, 3), zeros(4)]).Should().BeTrue();
        layout.Matches([zeros(2, 3), zeros(4, dtype: ScalarType.Float64)]).Should().BeFalse();
        layout.Matches([zeros(2, 3)]).Should().BeFalse();
    }

    [Fact]
    public void Integer_tensors_cannot_be_averaged()
    {
        using var scope = NewDisposeScope();
        var act = () => FlatLayout.For([zeros(2, dtype: ScalarType.Int64)], 100);
        act.Should().Throw<NotSupportedException>().WithMessage("*Int64*");
    }
}
