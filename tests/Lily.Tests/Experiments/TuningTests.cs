using Lily.Experiments.FashionMnist;
using Lily.FashionMnist;
using Lily.Planning;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Experiments;

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
        var lora = FineTuning.LoraConfigFor(4, ["q_proj"]);
        TunedSweep.WithScaling(lora, 1).Should().BeSameAs(lora);
        var act = () => TunedSweep.WithScaling(lora, 2);
        act.Should().Throw<ArgumentException>().WithMessage("*alpha / r*");
    }

    [Fact]
    public void The_grid_crosses_CLoRAs_p_and_the_SADE_weight_with_scaling_and_rate_and_matches_each_p_to_the_budget()
    {
        var point = SweepPlan.For("all-targets", [4], strideA: 1, experts: 2, cloraBases: 4, sadeWeight: 0.1)[0];
        var sweep = new SweepOptions { TuneLearningRates = [2e-3, 8e-3], TuneScaling = [1, 2], TuneCLoraBases = [2, 4], TuneSadeWeights = [0.01, 0.1] };

        TunedSweep.Grid(point, "lora", sweep).Select(s => (s.LearningRate, s.Scaling, s.Bases)).Should().Equal((2e-3, 1.0, (int?)null), (8e-3, 1.0, null));
        TunedSweep.Grid(point, "lily", sweep).Should().HaveCount(4);
        var clora = TunedSweep.Grid(point, "clora", sweep);
        clora.Should().HaveCount(2 * 2 * 2);
        var sade = TunedSweep.Grid(point, "clora-sade", sweep);
        sade.Should().HaveCount(2 * 2 * 2 * 2);
        // Grid order: p, then weight, then scaling, then rate (a tie keeps the earlier point).
        sade.Take(3).Select(s => (s.Bases, s.SadeWeight, s.Scaling, s.LearningRate)).Should().Equal(((int?)2, (double?)0.01, 1.0, 2e-3), (2, 0.01, 1.0, 8e-3), (2, 0.01, 2.0, 2e-3));

        using var model = FineTuning.BuildModel();
        long budget = point.CLora.Budget;
        foreach (var s in clora.Concat(sade))
        {
            var config = (CLoraConfig)s.Config;
            config.NumBases.Should().Be(s.Bases);
            config.SadeWeight.Should().Be(s.SadeWeight ?? 0, "plain CLoRA has SADE off");
            s.Match!.Config.Should().Be(config, "the reported match is the config that trains");
            s.Match.Trainable.Should().Be(PeftPlan.For(model, config).TrainableParameters);
            foreach (int other in new[] { config.R - 1, config.R + 1 }.Where(r => r >= 1))
                Math.Abs(PeftPlan.For(model, config with { R = other }).TrainableParameters - budget).Should().BeGreaterThanOrEqualTo(Math.Abs(s.Match.Trainable - budget));
        }
        // Fewer bases buy a larger r at the same budget.
        ((CLoraConfig)clora[0].Config).R.Should().BeGreaterThan(((CLoraConfig)clora[^1].Config).R);

        // Without the new grids: the sweep's p and SADE weight only.
        var plain = new SweepOptions { TuneLearningRates = [2e-3], TuneScaling = [1], CLoraBases = 4, SadeWeight = 0.1 };
        TunedSweep.Grid(point, "clora-sade", plain).Should().ContainSingle().Which.Config.Should().Be(point.CLora.Config);
    }

    [Fact]
    public void The_report_shows_the_chosen_p_for_CLoRA_and_for_CLoRA_with_SADE_each_its_own()
    {
        var point = SweepPlan.For("all-targets", [4], strideA: 1, experts: 2, cloraBases: 4, sadeWeight: 0.1)[0];
        var sweep = new SweepOptions { TuneLearningRates = [2e-3], TuneScaling = [1], TuneCLoraBases = [2, 4], TuneSadeWeights = [0.3] };
        var clora = TunedSweep.Grid(point, "clora", sweep)[0];        // p = 2
        var sade = TunedSweep.Grid(point, "clora-sade", sweep)[^1];   // p = 4, weight 0.3
        var chosen = TunedSweep.Chosen(point, [("clora", clora), ("clora-sade", sade)]);

        var methods = chosen.Methods().ToDictionary(m => m.Method);
        ((CLoraConfig)methods["clora"].Config).NumBases.Should().Be(2);
        ((CLoraConfig)methods["clora"].Config).SadeWeight.Should().Be(0);
        ((CLoraConfig)methods["clora-sade"].Config).NumBases.Should().Be(4);
        ((CLoraConfig)methods["clora-sade"].Config).SadeWeight.Should().Be(0.3);
        methods["clora"].Match!.Trainable.Should().Be(clora.Match!.Trainable);
        TunedSweep.Chosen(point, [("lora", TunedSweep.Grid(point, "lora", sweep)[0])]).Should().Be(point, "nothing CLoRA chosen, nothing changed");

        var trials = new[] { new TuningTrial("all-targets", 4, "clora-sade", 2e-3, 1, 1, 0.8, 4, 0.3) };
        TunedSweep.TuningMarkdown(trials, []).Should().Contain("**0.002, 1, p 4, w 0.3: 80.00**");
        TunedSweep.TuningCsv(trials).Should().Contain("all-targets,4,clora-sade,0.002,1,4,0.3,1,0.8000");
    }

    private static FashionMnistDataset Marked(int[] ids, long[] labels)
    {
        var images = tensor(ids.Select(i => (float)i).ToArray()).reshape(ids.Length, 1, 1, 1).expand(ids.Length, 1, 2, 2).contiguous();
        return FashionMnistDataset.FromTensors(images, tensor(labels), ClassSizes.Length);
    }

    private static int[] Ids(FashionMnistDataset d) =>
        d.Images.reshape(d.Count, -1)[.., 0].data<float>().ToArray().Select(v => (int)v).ToArray();
}
