using Lily.Samples.FashionMnist;
using static TorchSharp.torch;

namespace Lily.Tests.Samples;

public class TuningTests
{
    // Unequal classes, one of them too small for an exact 20 %: the split must round per class.
    private static readonly int[] ClassSizes = [100, 101, 37, 50, 12];

    private static long[] Labels() => ClassSizes.SelectMany((n, c) => Enumerable.Repeat((long)c, n)).ToArray();

    [Fact]
    public void Validation_is_disjoint_from_training_covers_every_image_once_and_takes_each_classes_share()
    {
        var labels = Labels();
        var (train, validation) = ValidationSplit.Indices(labels, 0.2, seed: 0);

        train.Intersect(validation).Should().BeEmpty();
        train.Concat(validation).Order().Should().Equal(Enumerable.Range(0, labels.Length));
        for (int c = 0; c < ClassSizes.Length; c++)
        {
            int expected = (int)Math.Round(0.2 * ClassSizes[c], MidpointRounding.AwayFromZero);   // 20, 20, 7, 10, 2
            validation.Count(i => labels[i] == c).Should().Be(expected, $"class {c} has {ClassSizes[c]} images");
        }
        validation.Length.Should().Be(20 + 20 + 7 + 10 + 2);
    }

    [Fact]
    public void The_split_is_fixed_by_its_seed_and_shuffles_within_classes()
    {
        var labels = Labels();
        ValidationSplit.Indices(labels, 0.2, seed: 3).Validation.Should().Equal(ValidationSplit.Indices(labels, 0.2, seed: 3).Validation);
        ValidationSplit.Indices(labels, 0.2, seed: 3).Validation.Should().NotEqual(ValidationSplit.Indices(labels, 0.2, seed: 4).Validation);
        // Not simply the first images of each class.
        ValidationSplit.Indices(labels, 0.2, seed: 3).Validation.Where(i => labels[i] == 0).Should().NotEqual(Enumerable.Range(0, 20));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void A_fraction_outside_zero_to_one_is_refused(double fraction)
    {
        var act = () => ValidationSplit.Indices(Labels(), fraction, seed: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("fraction");
    }

    [Fact]
    public void Validation_images_come_from_the_training_images_only_never_from_the_test_set()
    {
        // Each image carries its identity in its pixels: training images 0..n-1, test images 10,000 + i.
        var labels = Labels();
        int n = labels.Length;
        using var train = Marked(Enumerable.Range(0, n).ToArray(), labels);
        using var test = Marked(Enumerable.Range(10_000, 60).ToArray(), labels.Take(60).ToArray());

        var (part, validation) = ValidationSplit.Of(train, 0.2, seed: 0);
        using (part)
        using (validation)
        {
            var partIds = Ids(part);
            var validationIds = Ids(validation);
            var testIds = Ids(test);
            validationIds.Should().OnlyHaveUniqueItems().And.OnlyContain(id => id >= 0 && id < n);
            validationIds.Intersect(partIds).Should().BeEmpty();
            validationIds.Intersect(testIds).Should().BeEmpty();
            partIds.Concat(validationIds).Order().Should().Equal(Enumerable.Range(0, n));
            (part.Count, validation.Count).Should().Be((n - 59, 59));
            // Labels travel with their images.
            validation.Labels.data<long>().ToArray().Should().Equal(validationIds.Select(id => labels[id]));
            validation.NumClasses.Should().Be(train.NumClasses);
        }
        train.Count.Should().Be(n, "the split copies, the training set stays whole");
    }

    [Fact]
    public void The_best_validation_accuracy_is_chosen_and_a_tie_keeps_the_first_grid_point()
    {
        TuningTrial T(double lr, double acc, double scaling = 1) => new("all-targets", 4, "lily", lr, scaling, 1, acc);
        TuningTrial.Best([T(5e-4, 0.71), T(1e-3, 0.80), T(2e-3, 0.84), T(4e-3, 0.83), T(8e-3, 0.60)]).LearningRate.Should().Be(2e-3);
        TuningTrial.Best([T(2e-3, 0.84, 1), T(2e-3, 0.86, 2)]).Scaling.Should().Be(2);
        TuningTrial.Best([T(1e-3, 0.80), T(4e-3, 0.90), T(8e-3, 0.90)]).LearningRate.Should().Be(4e-3);
        var none = () => TuningTrial.Best([]);
        none.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void The_tuning_table_marks_the_choice_and_reports_its_test_accuracy()
    {
        TuningTrial T(string method, double lr, double acc) => new("all-targets", 4, method, lr, 1, 1, acc);
        var trials = new[] { T("lora", 1e-3, 0.80), T("lora", 4e-3, 0.85), T("dora", 1e-3, 0.82), T("dora", 4e-3, 0.81) };
        var runs = new[] { 0.86, 0.88 }.Select((a, i) => new SweepRun("all-targets", "lora", 4, 4, i + 1, 100, a, 1)).ToList();

        string md = TunedSweep.TuningMarkdown(trials, runs);

        md.Should().Contain("| 4 | LoRA | 0.001: 80.00; **0.004: 85.00** | 0.004 | 87.00 ± 1.41 % |");
        md.Should().Contain("| 4 | DoRA | **0.001: 82.00**; 0.004: 81.00 | 0.001 | not run |");
    }

    [Fact]
    public void Scaling_is_tuned_for_Lily_and_CLoRA_and_refused_for_LoRA()
    {
        var lily = new LilyConfig { TargetModules = ["q_proj"], R = 2 };
        ((LilyConfig)TunedSweep.WithScaling(lily, 2)).Scaling.Should().Be(2);
        ((CLoraConfig)TunedSweep.WithScaling(new CLoraConfig { TargetModules = ["q_proj"], R = 2 }, 0.5)).Scaling.Should().Be(0.5);
        var lora = Experiment.LoraConfigFor(4, ["q_proj"]);
        TunedSweep.WithScaling(lora, 1).Should().BeSameAs(lora);
        var act = () => TunedSweep.WithScaling(lora, 2);
        act.Should().Throw<ArgumentException>().WithMessage("*alpha / r*");
    }

    private static FashionMnistDataset Marked(int[] ids, long[] labels)
    {
        var images = tensor(ids.Select(i => (float)i).ToArray()).reshape(ids.Length, 1, 1, 1).expand(ids.Length, 1, 2, 2).contiguous();
        return FashionMnistDataset.FromTensors(images, tensor(labels), ClassSizes.Length);
    }

    private static int[] Ids(FashionMnistDataset d) =>
        d.Images.reshape(d.Count, -1)[.., 0].data<float>().ToArray().Select(v => (int)v).ToArray();
}
