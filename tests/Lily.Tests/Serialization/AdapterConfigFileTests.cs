using System.Text.Json;
using Lily.Serialization;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>adapter_config.json: PEFT's field names and values, sorted keys, and a lossless round trip.</summary>
public class AdapterConfigFileTests
{
    private static T RoundTrip<T>(T config) where T : PeftConfig => ConfigRoundTrip.Of(config);

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement;

    public static TheoryData<LoraConfig> LoraConfigs() => new()
    {
        new LoraConfig { TargetModules = ["q_proj", "v_proj"] },
        new LoraConfig { TargetModules = ["query", "value"], R = 4, LoraAlpha = 16, LoraDropout = 0.1, UseRsLora = true, InitLoraWeights = LoraInit.Gaussian, ModulesToSave = ["classifier", "score"] },
        new LoraConfig { TargetModulesRegex = @"^layers\.\d+\.(q|v)_proj$", R = 16, LoraAlpha = 0.5, LoraDropout = 0.05 },
    };

    [Theory]
    [MemberData(nameof(LoraConfigs))]
    public void Lora_config_round_trips(LoraConfig config) => RoundTrip(config);

    [Theory]
    [InlineData(LilyRouting.BatchMean)]
    [InlineData(LilyRouting.PerSample)]
    [InlineData(LilyRouting.PerToken)]
    public void Lily_config_round_trips_in_every_routing_mode(LilyRouting routing)
    {
        var config = new LilyConfig
        {
            TargetModules = ["q_proj", "v_proj", "fc1"], R = 16, StrideA = 3, NumB = 4, Scaling = 0.25,
            InitWeights = false, Routing = routing, ModulesToSave = ["head"],
        };
        RoundTrip(config).Routing.Should().Be(routing);

        var root = Parse(AdapterConfigFile.ToJson(config));
        if (routing == LilyRouting.BatchMean)
            root.TryGetProperty("lily_routing", out _).Should().BeFalse("PEFT's own routing is written as PEFT writes it, without our field");
        else
            root.GetProperty("lily_routing").GetString().Should().Be(routing.ToString());
    }

    [Fact]
    public void Lora_fields_have_peft_names_and_values()
    {
        var root = Parse(AdapterConfigFile.ToJson(new LoraConfig
        {
            TargetModules = ["q_proj", "v_proj"], R = 4, LoraAlpha = 16, LoraDropout = 0.1, UseRsLora = true,
            InitLoraWeights = LoraInit.Gaussian, ModulesToSave = ["classifier"],
        }));

        root.GetProperty("peft_type").GetString().Should().Be("LORA");
        root.GetProperty("r").GetInt32().Should().Be(4);
        root.GetProperty("lora_alpha").GetDouble().Should().Be(16);
        root.GetProperty("lora_dropout").GetDouble().Should().Be(0.1);
        root.GetProperty("use_rslora").GetBoolean().Should().BeTrue();
        root.GetProperty("init_lora_weights").GetString().Should().Be("gaussian");
        root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()).Should().Equal("q_proj", "v_proj");
        root.GetProperty("modules_to_save").EnumerateArray().Select(e => e.GetString()).Should().Equal("classifier");
        root.GetProperty("bias").GetString().Should().Be("none");
        root.GetProperty("use_dora").GetBoolean().Should().BeFalse();
        root.GetProperty("inference_mode").GetBoolean().Should().BeFalse("InferenceMode is written as it is, false by default");
        root.GetProperty("task_type").ValueKind.Should().Be(JsonValueKind.Null);

        Parse(AdapterConfigFile.ToJson(new LoraConfig { TargetModules = ["q_proj"] })).GetProperty("init_lora_weights").GetBoolean()
            .Should().BeTrue("kaiming-uniform is PEFT's init_lora_weights=True");
    }

    [Fact]
    public void Lily_fields_have_peft_names_and_values()
    {
        var root = Parse(AdapterConfigFile.ToJson(new LilyConfig { TargetModules = ["q_proj"], R = 8, StrideA = 2, NumB = 3, Scaling = 2, InitWeights = false }));

        root.GetProperty("peft_type").GetString().Should().Be("LILY");
        root.GetProperty("r").GetInt32().Should().Be(8);
        root.GetProperty("stride_A").GetInt32().Should().Be(2);
        root.GetProperty("num_B").GetInt32().Should().Be(3);
        root.GetProperty("scaling").GetDouble().Should().Be(2);
        root.GetProperty("init_weights").GetBoolean().Should().BeFalse();
        root.GetProperty("modules_to_save").ValueKind.Should().Be(JsonValueKind.Null);
        root.TryGetProperty("lora_alpha", out _).Should().BeFalse("LoRA's fields are not written for Lily");
    }

    [Theory]
    [MemberData(nameof(AllKindsOfConfig))]
    public void Keys_are_sorted_and_indented_by_two_spaces_as_peft_writes(PeftConfig config)
    {
        string json = AdapterConfigFile.ToJson(config);

        var keys = Parse(json).EnumerateObject().Select(p => p.Name).ToList();
        keys.Should().BeInAscendingOrder(StringComparer.Ordinal);
        keys.Should().OnlyHaveUniqueItems();
        var lines = json.Split('\n');
        lines[0].Should().Be("{");
        lines[1].Should().StartWith($"  \"{keys[0]}\": ", "the first sorted key comes first, indented by two spaces");
        lines.Where(l => l.StartsWith("  \"")).Should().HaveCount(keys.Count, "every top-level key is on its own line at two spaces");
        lines[^1].Should().Be("}");
    }

    public static TheoryData<PeftConfig> AllKindsOfConfig() => new()
    {
        new LoraConfig { TargetModules = ["q_proj"], ModulesToSave = ["head"] },
        new LilyConfig { TargetModules = ["q_proj"], Routing = LilyRouting.PerToken },
        new LilyConfig { TargetModulesRegex = ".*" },
    };

    [Fact]
    public void Regex_target_modules_stay_a_string()
    {
        const string regex = @"^model\.layers\.\d+\.self_attn\.(q|v)_proj$|^lm\+head<2>$";
        var config = new LilyConfig { TargetModulesRegex = regex };

        var root = Parse(AdapterConfigFile.ToJson(config));

        root.GetProperty("target_modules").ValueKind.Should().Be(JsonValueKind.String);
        root.GetProperty("target_modules").GetString().Should().Be(regex);
        var back = RoundTrip(config);
        back.TargetModulesRegex.Should().Be(regex);
        back.TargetModules.Should().BeNull();
    }

    [Fact]
    public void Absent_fields_take_peft_defaults()
    {
        var lora = AdapterConfigFile.FromJson("""{ "peft_type": "LORA", "target_modules": ["q_proj"] }""");
        lora.Should().BeEquivalentTo(new LoraConfig { TargetModules = ["q_proj"] }, o => o.ComparingByMembers<LoraConfig>());

        var lily = AdapterConfigFile.FromJson("""{ "peft_type": "LILY", "target_modules": ["q_proj"], "init_lora_weights": "ignored for lily" }""");
        lily.Should().BeEquivalentTo(new LilyConfig { TargetModules = ["q_proj"] }, o => o.ComparingByMembers<LilyConfig>());
        ((LilyConfig)lily).R.Should().Be(32);
    }

    [Theory]
    [InlineData("[1, 2]", "*top level is not a JSON object*")]
    [InlineData("""{ "target_modules": ["q"] }""", "*'peft_type' is missing*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "r": "8" }""", "*'r' must be a number (got \"8\")*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "r": 2.5 }""", "*'r' must be a whole number (got 2.5)*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "r": 0 }""", "*R must be at least 1*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": 5 }""", "*'target_modules' must be a list of names or a regular expression*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q", 5] }""", "*'target_modules' must be a list of strings*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": [] }""", "*No target modules*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "bias": "all" }""", "*bias 'all' is not supported*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "init_lora_weights": "pissa" }""", "*init_lora_weights \"pissa\" is not supported*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "rank_pattern": { "q": 0 } }""", "*'rank_pattern' gives 'q' 0, not a whole number*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "fan_in_fan_out": true }""", "*'fan_in_fan_out' is true*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "layers_pattern": ["layers"] }""", "*LayersPattern is set without LayersToTransform*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "r": null }""", "*'r' must be a number (got null)*")]
    [InlineData("""{ "peft_type": "LILY", "target_modules": ["q"], "num_B": 1 }""", "*NumB must be at least 2*")]
    [InlineData("""{ "peft_type": "LILY", "target_modules": ["q"], "lily_routing": "Sideways" }""", "*lily_routing 'Sideways' is not one of BatchMean, PerSample, PerToken*")]
    [InlineData("""{ "peft_type": "LILY", "target_modules": "(" }""", "*not a valid regular expression*")]
    public void Invalid_configs_are_rejected_naming_the_field(string json, string message)
    {
        var read = () => AdapterConfigFile.FromJson(json, "my/adapter_config.json");
        read.Should().Throw<InvalidDataException>().WithMessage("my/adapter_config.json: " + message);
    }
}
