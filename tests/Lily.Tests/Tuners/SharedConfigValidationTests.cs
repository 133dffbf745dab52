using Lily.Tuners;

namespace Lily.Tests.Tuners;

/// <summary>Validation of the shared fields (exclusions, layers, all-linear) and of Lily's disjoint-targets rule.</summary>
public class SharedConfigValidationTests
{
    public static TheoryData<PeftConfig, string, string> InvalidConfigs() => new()
    {
        { new LoraConfig { TargetModules = ["q"], ExcludeModules = ["k"], ExcludeModulesRegex = "k" }, "ExcludeModules", "*both set*" },
        { new LoraConfig { TargetModules = ["q"], ExcludeModulesRegex = "(" }, "ExcludeModulesRegex", "*not a valid regular expression*" },
        { new LoraConfig { TargetModules = ["q"], ExcludeModulesRegex = "" }, "ExcludeModulesRegex", "*is empty*" },
        { new LoraConfig { TargetModules = ["q"], ExcludeModules = ["k", " "] }, "ExcludeModules", "*empty name*" },
        { new LoraConfig { TargetModules = ["q"], LayersPattern = ["layers"] }, "LayersPattern", "*without LayersToTransform*" },
        { new LoraConfig { TargetModules = ["q"], LayersToTransform = [] }, "LayersToTransform", "*is empty*" },
        { new LoraConfig { TargetModules = ["q"], LayersToTransform = [0, -1] }, "LayersToTransform", "*negative*" },
        { new LoraConfig { TargetModulesRegex = ".*q", LayersToTransform = [0] }, "LayersToTransform", "*TargetModulesRegex*" },
        { new LoraConfig { TargetModules = ["all-linear", "q"] }, "TargetModules", "*must be the only entry*" },
        { new LoraConfig { TargetModulesRegex = "all-linear" }, "TargetModulesRegex", "*special value*" },
        { new LilyConfig { TargetModules = ["q_proj", "v_proj", "proj"] }, "TargetModules", "*'q_proj' and 'proj' overlap*hash seed*TargetModulesRegex*" },
        { new LilyConfig { TargetModules = ["fc", "fc1", "xfc"] }, "TargetModules", "*'xfc' and 'fc' overlap*" },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void Invalid_shared_field_is_named(PeftConfig config, string field, string message)
    {
        var validate = config.Validate;

        validate.Should().Throw<ArgumentException>().WithMessage(message).Which.ParamName.Should().Be(field);
    }

    public static TheoryData<PeftConfig> ValidConfigs() => new()
    {
        new LoraConfig { TargetModules = ["all-linear"] },
        new LilyConfig { TargetModules = ["all-linear"] },
        new LilyConfig { TargetModules = ["q_proj", "v_proj", "q_proj"] },
        new LilyConfig { TargetModules = ["fc1", "fc2"], LayersToTransform = [0, 2], LayersPattern = ["layers", "h"] },
        new LoraConfig { TargetModules = ["q_proj", "proj"], ExcludeModulesRegex = @"layers\.0\..*" },
        new LoraConfig { TargetModules = ["q"], LayersToTransform = [1] },
    };

    [Theory]
    [MemberData(nameof(ValidConfigs))]
    public void Valid_configs_pass(PeftConfig config)
    {
        var validate = config.Validate;

        validate.Should().NotThrow();
    }

    [Fact]
    public void Overlap_is_not_checked_for_lora_which_does_not_group_layers()
    {
        var validate = new LoraConfig { TargetModules = ["q_proj", "proj"] }.Validate;

        validate.Should().NotThrow();
    }
}
