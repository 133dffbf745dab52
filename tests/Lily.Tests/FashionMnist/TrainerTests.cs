using Lily.FashionMnist;
using static TorchSharp.torch;

namespace Lily.Tests.FashionMnist;

public sealed class TrainerTests
{
    // Two classes a tiny ViT separates quickly: dark images versus bright images.
    private static FashionMnistDataset Toy(int n, int seed)
    {
        using var generator = new Generator((ulong)seed);
        var labels = arange(n, dtype: ScalarType.Int64).remainder(2);
        var images = randn([n, 1, 28, 28], generator: generator) * 0.5 + (labels.to_type(ScalarType.Float32) * 2 - 1).view(n, 1, 1, 1);
        return FashionMnistDataset.FromTensors(images, labels, 2);
    }

    [Fact]
    public void Training_only_moves_the_parameters_the_optimizer_was_given()
    {
        manual_seed(0);
        using var model = new VisionTransformer(dim: 16, depth: 1, heads: 2, numClasses: 2);
        using var train = Toy(64, 1);
        using var test = Toy(32, 2);
        foreach (var (name, p) in model.named_parameters()) p.requires_grad = name.StartsWith("head.", StringComparison.Ordinal);
        var frozenBefore = model.named_parameters().Where(p => !p.name.StartsWith("head.", StringComparison.Ordinal)).Select(p => p.parameter.clone()).ToList();
        using var optimizer = Trainer.CreateAdamW(model, 0.05);

        var steps = new List<int>();
        EpochStats stats = null!;
        for (int epoch = 0; epoch < 3; epoch++) stats = Trainer.TrainEpoch(model, train, optimizer, batchSize: 16, seed: epoch, onStep: (s, _) => steps.Add(s));

        stats.Steps.Should().Be(4);
        stats.Samples.Should().Be(64);
        steps.Should().HaveCount(12);
        Trainer.Evaluate(model, test).Should().BeGreaterThan(0.9);
        var frozenAfter = model.named_parameters().Where(p => !p.name.StartsWith("head.", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
        frozenAfter.Zip(frozenBefore).Should().OnlyContain(pair => pair.First.equal(pair.Second).all().item<bool>());
    }

    [Fact]
    public void Evaluate_restores_the_training_mode()
    {
        using var model = new VisionTransformer(dim: 16, depth: 1, heads: 2, numClasses: 2);
        using var data = Toy(8, 3);
        model.train();

        double accuracy = Trainer.Evaluate(model, data, batchSize: 3);

        accuracy.Should().BeInRange(0, 1);
        model.training.Should().BeTrue();
    }

    [Fact]
    public void An_optimizer_needs_something_to_train()
    {
        using var model = new VisionTransformer(dim: 16, depth: 1, heads: 2, numClasses: 2);
        foreach (var p in model.parameters()) p.requires_grad = false;

        var act = () => Trainer.CreateAdamW(model, 1e-3);

        act.Should().Throw<InvalidOperationException>();
    }
}
