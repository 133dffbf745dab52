using Lily.FashionMnist;
using Lily.Experiments.FashionMnist;

namespace Lily.Tests.Experiments;

/// <summary>The Fashion-MNIST experiments' options: <c>--quick</c> sets the defaults, an option given explicitly wins.</summary>
public class ExperimentCommandLineTests
{
    private static (FashionMnistOptions Run, SweepOptions Sweep) Parse(params string[] args)
    {
        var cli = new ExperimentCommandLine();
        var parsed = cli.Root.Parse(args);
        parsed.Errors.Should().BeEmpty();
        return (cli.Options(parsed), cli.Sweep(parsed));
    }

    [Fact]
    public void Quick_sets_the_smoke_test_defaults()
    {
        var (run, sweep) = Parse("--quick");
        run.Should().BeEquivalentTo(new FashionMnistOptions().Quick());
        sweep.LoraRanks.Should().Equal(new SweepOptions().Quick().LoraRanks);
        sweep.Variants.Should().Equal(new SweepOptions().Quick().Variants);
    }

    [Fact]
    public void Options_given_explicitly_win_over_quick()
    {
        var (run, sweep) = Parse("--quick", "--train-samples", "500", "--test-samples", "300", "--epochs", "5", "--sweep-ranks", "2", "4", "--sweep-variant", "attention-only");
        run.TrainSamples.Should().Be(500);
        run.TestSamples.Should().Be(300);
        run.FineTuneEpochs.Should().Be(5);
        run.PretrainEpochs.Should().Be(new FashionMnistOptions().Quick().PretrainEpochs, "what was not given keeps --quick's value");
        sweep.LoraRanks.Should().Equal(2, 4);
        sweep.Variants.Should().Equal("attention-only");
    }

    [Fact]
    public void Without_quick_the_defaults_are_the_full_run()
    {
        var (run, sweep) = Parse("--seeds", "1", "2", "3");
        run.Should().BeEquivalentTo(new FashionMnistOptions() with { Seeds = [1, 2, 3] });
        sweep.LoraRanks.Should().Equal(new SweepOptions().LoraRanks);
    }

    [Fact]
    public void Quick_ranks_follow_an_explicit_analysis_rank()
    {
        Parse("--quick", "--analysis-rank", "8").Sweep.LoraRanks.Should().Equal(1, 8);
    }
}
