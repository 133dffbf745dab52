using Lily.Samples.FashionMnist;

namespace Lily.Tests.Samples;

public class BudgetMatcherTests
{
    [Theory]
    [InlineData(4, 2, 2)]
    [InlineData(8, 1, 2)]
    [InlineData(2, 4, 3)]
    public void Chosen_Lily_rank_matches_LoRA_within_5_percent_and_the_counts_are_the_librarys(int loraRank, int stride, int experts)
    {
        var types = Experiment.TargetTypes(new VisionTransformer(numClasses: 5));
        long loraBudget = BudgetMatcher.LoraCount(types, loraRank);
        int lilyRank = BudgetMatcher.LilyRankFor(types, loraBudget, stride, experts);
        long lilyBudget = BudgetMatcher.LilyCount(types, lilyRank, stride, experts);

        Math.Abs(lilyBudget - loraBudget).Should().BeLessThanOrEqualTo(loraBudget / 20);

        // The sample's arithmetic agrees with what the library actually injects.
        var lora = PeftModel.Create(new VisionTransformer(numClasses: 5), new LoraConfig { TargetModules = Experiment.Targets, R = loraRank });
        lora.GetParameterSummary().TrainableParameters.Should().Be(loraBudget);
        var lily = PeftModel.Create(new VisionTransformer(numClasses: 5), new LilyConfig { TargetModules = Experiment.Targets, R = lilyRank, StrideA = stride, NumB = experts });
        lily.GetParameterSummary().TrainableParameters.Should().Be(lilyBudget);
    }
}
