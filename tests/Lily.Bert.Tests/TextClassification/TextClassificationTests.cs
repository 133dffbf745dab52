using Lily.Bert.Modeling;
using Lily.Planning;
using Lily.TextClassification.Methods;
using Lily.TextClassification.Training;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.TextClassification;

public sealed class TextClassificationTests
{
    private static readonly BertConfig MiniLm = new() { HiddenSize = 384, NumHiddenLayers = 6, IntermediateSize = 1536, NumAttentionHeads = 12 };

    [Fact]
    public void Budgets_AreLorasFormula_AndLilyIsMatchedToIt()
    {
        using var model = new BertForSequenceClassification(MiniLm, numLabels: 2, Pooling.Mean, addPoolingLayer: false, device: META);
        var methods = MethodCatalog.For(model, ["head", "lora", "lily", "full"], TargetSet.QueryValue, loraRank: 8, lilyStrideA: 2, lilyExperts: 2);
        const long head = 384 * 2 + 2;
        methods.Single(m => m.Id == "head").Trainable.Should().Be(head);
        // LoRA: r (d_in + d_out) per adapted layer, 6 layers × {query, value}.
        methods.Single(m => m.Id == "lora").Trainable.Should().Be(6 * 2 * 8 * (384 + 384) + head);

        var lily = methods.Single(m => m.Id == "lily");
        int r = ((LilyConfig)lily.Config!).R;
        // Per target type: ceil(L / stride_A)·d_in·r + E·r·d_out + L·r·E.
        long perType = 3 * 384 * r + 2 * r * 384 + 6 * r * 2;
        lily.Trainable.Should().Be(2 * perType + head);
        Math.Abs(lily.Trainable - methods.Single(m => m.Id == "lora").Trainable).Should().BeLessThanOrEqualTo(2 * (3 * 384 + 2 * 384 + 12) / 2,
            "the matched rank is the one nearest the budget: off by at most half a rank step");
        methods.Single(m => m.Id == "full").Trainable.Should().Be(model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void AllLinearTargets_AdaptEveryLinearOfEveryLayer_AndNotThePoolerlessHead()
    {
        using var model = new BertForSequenceClassification(MiniLm, numLabels: 2, Pooling.Mean, addPoolingLayer: false, device: META);
        var plan = PeftPlan.For(model, new LoraConfig { TargetModules = TargetSet.Modules(TargetSet.AllLinear), R = 1, ModulesToSave = ["classifier"] });
        plan.Layers.Should().HaveCount(6 * 6);
        plan.Layers.Should().NotContain(l => l.Path.StartsWith("classifier", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0, 100, 10, 0.1)]
    [InlineData(9, 100, 10, 1.0)]
    [InlineData(10, 100, 10, 1.0)]
    [InlineData(55, 100, 10, 0.5)]
    [InlineData(99, 100, 10, 1.0 / 90)]
    public void Schedule_WarmsUpLinearly_ThenDecaysToZero(int step, int total, int warmup, double expected) =>
        LinearWarmupSchedule.Factor(step, total, warmup).Should().BeApproximately(expected, 1e-12);

    [Fact]
    public void Batch_IsCutToItsLongestRealSequence()
    {
        var ids = tensor(new long[,] { { 101, 5, 6, 102, 0, 0 }, { 101, 7, 102, 0, 0, 0 }, { 101, 8, 9, 10, 11, 102 } });
        var mask = ids.ne(0).to(int64);
        using var data = new EncodedExamples(ids, mask, tensor(new long[] { 0, 1, 1 }));
        using var scope = NewDisposeScope();
        var (batchIds, batchMask, labels) = data.Batch([0, 1]);
        batchIds.shape.Should().Equal(2, 4);
        batchMask.sum().item<long>().Should().Be(7);
        labels.data<long>().ToArray().Should().Equal(0, 1);
        data.Batch([2, 0]).Ids.shape.Should().Equal(2, 6);
        data.BatchIndices(2, new Random(1)).SelectMany(b => b).Should().BeEquivalentTo([0, 1, 2], "every example once per epoch");
    }
}
