using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Tuners;

public class ConfigValidationTests
{
    private static readonly string[] Targets = ["q_proj"];

    public static TheoryData<PeftConfig, string> InvalidConfigs() => new()
    {
        { new LilyConfig { TargetModules = Targets, R = 0 }, "R" },
        { new LilyConfig { TargetModules = Targets, NumB = 1 }, "NumB" },
        { new LilyConfig { TargetModules = Targets, StrideA = 0 }, "StrideA" },
        { new LilyConfig { TargetModules = Targets, Scaling = double.NaN }, "Scaling" },
        { new LilyConfig { TargetModules = Targets, Scaling = double.PositiveInfinity }, "Scaling" },
        { new LoraConfig { TargetModules = Targets, R = -1 }, "R" },
        { new LoraConfig { TargetModules = Targets, LoraDropout = 1.0 }, "LoraDropout" },
        { new LoraConfig { TargetModules = Targets, LoraDropout = -0.1 }, "LoraDropout" },
        { new LoraConfig { TargetModules = Targets, LoraAlpha = double.NaN }, "LoraAlpha" },
        { new LoraConfig(), "TargetModules" },
        { new LoraConfig { TargetModules = Targets, TargetModulesRegex = ".*" }, "TargetModules" },
        { new LoraConfig { TargetModulesRegex = "(" }, "TargetModulesRegex" },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void Invalid_field_is_named_and_model_is_untouched(PeftConfig config, string field)
    {
        var model = new ToyModel(1, 4, 8, 2);
        var types = model.named_modules().Select(m => m.module.GetType()).ToList();

        var act = () => PeftModel.Create(model, config);

        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
        model.named_modules().Select(m => m.module.GetType()).Should().Equal(types);
        model.parameters().Should().OnlyContain(p => p.requires_grad);
    }

    [Fact]
    public void Defaults_are_peft_defaults()
    {
        var lily = new LilyConfig();
        (lily.R, lily.StrideA, lily.NumB, lily.Scaling, lily.Routing).Should().Be((32, 1, 2, 1.0, LilyRouting.BatchMean));
        var lora = new LoraConfig();
        (lora.R, lora.LoraAlpha, lora.LoraDropout, lora.UseRsLora).Should().Be((8, 8.0, 0.0, false));
        lora.Scaling.Should().Be(1.0);
        (lora with { R = 16, LoraAlpha = 32, UseRsLora = true }).Scaling.Should().BeApproximately(32 / 4.0, 1e-12);
    }
}
