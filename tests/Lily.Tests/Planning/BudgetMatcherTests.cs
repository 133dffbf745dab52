using Lily.Planning;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Planning;

public class BudgetMatcherTests
{
    [Theory]
    [InlineData(3, 1, 2)]
    [InlineData(5, 2, 3)]
    [InlineData(4, 3, 2)]
    public void A_budget_taken_from_a_known_Lily_config_is_hit_exactly(int r, int stride, int experts)
    {
        using var model = new ToyModel(5, 6, 10, 3);
        var known = new LilyConfig { TargetModules = ["q_proj", "fc1"], R = r, StrideA = stride, NumB = experts, ModulesToSave = ["head"] };
        long budget = PeftPlan.For(model, known).TrainableParameters;

        var match = BudgetMatcher.Match(model, known with { R = 1 }, budget, maxRank: 64);

        match.Trainable.Should().Be(budget);
        match.RelativeGap.Should().Be(0);
        ((LilyConfig)match.Config).R.Should().Be(r);
    }

    [Fact]
    public void Lily_matched_to_a_LoRA_budget_is_the_nearest_rank()
    {
        using var model = new ToyModel(4, 8, 16, 3);
        var targets = new[] { "q_proj", "k_proj", "v_proj", "fc1", "fc2" };
        long budget = PeftPlan.For(model, new LoraConfig { TargetModules = targets, R = 4 }).TrainableParameters;

        var match = BudgetMatcher.Match(model, new LilyConfig { TargetModules = targets, StrideA = 1, NumB = 2 }, budget, maxRank: 64);

        int r = ((LilyConfig)match.Config).R;
        long count = PeftPlan.For(model, match.Config).TrainableParameters;
        count.Should().Be(match.Trainable);
        match.RelativeGap.Should().BeApproximately((count - budget) / (double)budget, 1e-12);
        // No other rank is closer.
        foreach (int other in new[] { r - 1, r + 1 }.Where(x => x >= 1))
        {
            long otherCount = PeftPlan.For(model, ((LilyConfig)match.Config) with { R = other }).TrainableParameters;
            Math.Abs(otherCount - budget).Should().BeGreaterThanOrEqualTo(Math.Abs(count - budget));
        }
    }

    [Fact]
    public void Stride_and_expert_candidates_are_searched()
    {
        using var model = new ToyModel(6, 8, 16, 3);
        var target = new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 5, StrideA = 3, NumB = 4 };
        long budget = PeftPlan.For(model, target).TrainableParameters;

        var match = BudgetMatcher.Match(model, target with { R = 1, StrideA = 1, NumB = 2 }, budget, strideACandidates: [1, 2, 3], numBCandidates: [2, 4], maxRank: 32);

        match.Trainable.Should().Be(budget);
        var chosen = (LilyConfig)match.Config;
        PeftPlan.For(model, chosen).TrainableParameters.Should().Be(budget);
    }

    [Fact]
    public void LoRA_rank_is_matched_and_candidates_are_refused()
    {
        using var model = new ToyModel(2, 6, 10, 3);
        var lora = new LoraConfig { TargetModules = ["q_proj"], R = 1 };

        BudgetMatcher.Match(model, lora, 2 * 7 * 12 + 5).Config.Should().Be(lora with { R = 7 });
        var act = () => BudgetMatcher.Match(model, lora, 100, strideACandidates: [2]);
        act.Should().Throw<ArgumentException>();
    }
}
