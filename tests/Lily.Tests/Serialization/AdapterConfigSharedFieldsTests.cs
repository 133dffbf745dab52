using System.Text.Json;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;

namespace Lily.Tests.Serialization;

/// <summary>
/// adapter_config.json: the shared fields PEFT writes (exclusions, layers, all-linear, inference
/// mode), strict numbers, unknown fields, and the files PEFT itself wrote.
/// </summary>
public class AdapterConfigSharedFieldsTests
{
    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement;

    private static T RoundTrip<T>(T config) where T : PeftConfig => ConfigRoundTrip.Of(config);

    private static string PeftWritten(string name) =>
        File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "tests", "Lily.Tests", "Serialization", "PeftConfigs", name + ".json"));

    private static PeftConfig Read(string json) => AdapterConfigFile.FromJson(json, "my/adapter_config.json");

    [Theory]
    [InlineData("lily")]
    [InlineData("lily_layers")]
    [InlineData("lily_mts")]
    [InlineData("lora_exclude")]
    [InlineData("lora_f16_file")]
    [InlineData("lora_rslora")]
    public void Every_config_peft_wrote_loads_without_unknown_fields(string name)
    {
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));

        var config = AdapterConfigFile.FromJson(PeftWritten(name), name, factory.CreateLogger("test"));

        config.InferenceMode.Should().BeTrue("PEFT writes inference_mode: true on save");
        config.TargetModules.Should().BeEquivalentTo(["v_proj", "q_proj", name.StartsWith("lily") ? "fc1" : "fc2"]);
        config.PeftType.Should().Be(name.StartsWith("lily") ? "LILY" : "LORA");
        logs.Messages.Should().BeEmpty("every field PEFT writes is either read or deliberately ignored");
    }

    [Fact]
    public void Peft_files_give_exclusions_layers_and_method_fields()
    {
        var exclude = (LoraConfig)AdapterConfigFile.FromJson(PeftWritten("lora_exclude"));
        exclude.ExcludeModules.Should().Equal("model.layers.2.fc2", "model.layers.0.q_proj");
        exclude.ExcludeModulesRegex.Should().BeNull();
        (exclude.R, exclude.LoraAlpha, exclude.InitLoraWeights).Should().Be((4, 8.0, LoraInit.KaimingUniform));

        var layers = (LilyConfig)AdapterConfigFile.FromJson(PeftWritten("lily_layers"));
        layers.LayersToTransform.Should().Equal(0, 1, 2);
        layers.LayersPattern.Should().Equal("layers");
        (layers.R, layers.StrideA, layers.NumB, layers.Scaling).Should().Be((4, 2, 3, 0.5));

        ((LoraConfig)AdapterConfigFile.FromJson(PeftWritten("lora_rslora"))).UseRsLora.Should().BeTrue();
        AdapterConfigFile.FromJson(PeftWritten("lily_mts")).ModulesToSave.Should().Equal("fc2");
    }

    [Fact]
    public void Unknown_fields_are_ignored_with_one_debug_line_listing_them()
    {
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        const string json = """
            { "peft_type": "LORA", "target_modules": ["q"], "future_option": 3, "peft_version": "0.99", "megatron_core": "x", "other_new": null }
            """;

        var config = AdapterConfigFile.FromJson(json, "a.json", factory.CreateLogger("test"));

        config.Should().BeOfType<LoraConfig>();
        logs.Messages.Should().ContainSingle().Which.Should().Be("a.json: ignoring fields this library does not know: future_option, other_new");
    }

    [Theory]
    [InlineData("LORA", "r")]
    [InlineData("LORA", "lora_alpha")]
    [InlineData("LORA", "lora_dropout")]
    [InlineData("LORA", "use_rslora")]
    [InlineData("LILY", "r")]
    [InlineData("LILY", "scaling")]
    [InlineData("LILY", "stride_A")]
    [InlineData("LILY", "num_B")]
    [InlineData("LILY", "init_weights")]
    [InlineData("LILY", "inference_mode")]
    public void Null_where_peft_writes_a_value_names_the_field(string type, string field)
    {
        var read = () => Read($$"""{ "peft_type": "{{type}}", "target_modules": ["q"], "{{field}}": null }""");

        read.Should().Throw<InvalidDataException>().WithMessage($"my/adapter_config.json: '{field}' must be * (got null).");
    }

    [Fact]
    public void Fields_peft_writes_as_null_read_as_unset()
    {
        var config = Read("""
            { "peft_type": "LORA", "target_modules": ["q"], "exclude_modules": null, "layers_to_transform": null, "layers_pattern": null,
              "modules_to_save": null, "base_model_name_or_path": null, "revision": null, "task_type": null, "auto_mapping": null, "layer_replication": null }
            """);

        config.Should().BeEquivalentTo(new LoraConfig { TargetModules = ["q"] }, o => o.ComparingByMembers<LoraConfig>());
    }

    [Fact]
    public void All_linear_is_read_from_the_string_and_written_back_as_the_string()
    {
        var config = Read("""{ "peft_type": "LORA", "target_modules": "all-linear" }""");

        config.TargetModules.Should().Equal("all-linear");
        config.TargetModulesRegex.Should().BeNull();
        Parse(AdapterConfigFile.ToJson(config)).GetProperty("target_modules").GetString().Should().Be("all-linear");
        RoundTrip((LoraConfig)config);
        Read("""{ "peft_type": "LILY", "target_modules": "ALL-LINEAR" }""").TargetModules.Should().Equal("all-linear");
    }

    [Fact]
    public void Exclusions_round_trip_as_a_list_or_a_regex()
    {
        var list = RoundTrip(new LoraConfig { TargetModules = ["q_proj"], ExcludeModules = ["layers.0.q_proj", "head"] });
        Parse(AdapterConfigFile.ToJson(list)).GetProperty("exclude_modules").EnumerateArray().Select(e => e.GetString()).Should().Equal("layers.0.q_proj", "head");

        var regex = RoundTrip(new LilyConfig { TargetModules = ["q_proj"], ExcludeModulesRegex = @".*\.0\..*" });
        Parse(AdapterConfigFile.ToJson(regex)).GetProperty("exclude_modules").GetString().Should().Be(@".*\.0\..*");
        regex.ExcludeModules.Should().BeNull();

        Parse(AdapterConfigFile.ToJson(new LoraConfig { TargetModules = ["q"] })).GetProperty("exclude_modules").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public void Layers_read_an_int_or_a_string_as_one_entry_and_write_peft_shapes()
    {
        var one = Read("""{ "peft_type": "LORA", "target_modules": ["q"], "layers_to_transform": 2, "layers_pattern": "h" }""");
        one.LayersToTransform.Should().Equal(2);
        one.LayersPattern.Should().Equal("h");
        var root = Parse(AdapterConfigFile.ToJson(one));
        root.GetProperty("layers_to_transform").EnumerateArray().Select(e => e.GetInt32()).Should().Equal(2);
        root.GetProperty("layers_pattern").GetString().Should().Be("h", "one pattern is written as a string, as PEFT users write it");

        var two = RoundTrip(new LilyConfig { TargetModules = ["q"], LayersToTransform = [0, 3], LayersPattern = ["layers", "h"] });
        Parse(AdapterConfigFile.ToJson(two)).GetProperty("layers_pattern").EnumerateArray().Select(e => e.GetString()).Should().Equal("layers", "h");
        RoundTrip(new LoraConfig { TargetModules = ["q"], LayersToTransform = [1] }).LayersPattern.Should().BeNull();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Inference_mode_round_trips(bool mode)
    {
        var back = RoundTrip(new LilyConfig { TargetModules = ["q"], InferenceMode = mode });

        back.InferenceMode.Should().Be(mode);
        Parse(AdapterConfigFile.ToJson(back)).GetProperty("inference_mode").GetBoolean().Should().Be(mode);
    }

    [Theory]
    [InlineData("true", LoraInit.KaimingUniform)]
    [InlineData("false", LoraInit.Random)]
    [InlineData("\"gaussian\"", LoraInit.Gaussian)]
    public void Init_lora_weights_round_trips(string value, LoraInit init)
    {
        string json = $$"""{ "peft_type": "LORA", "target_modules": ["q"], "init_lora_weights": {{value}} }""";

        var config = (LoraConfig)Read(json);

        config.InitLoraWeights.Should().Be(init);
        Parse(AdapterConfigFile.ToJson(config)).GetProperty("init_lora_weights").GetRawText().Should().Be(value);
        RoundTrip(config);
    }

    [Theory]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "exclude_modules": 5 }""", "*'exclude_modules' must be a list of names, a regular expression or null*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "exclude_modules": ["k"], "layers_pattern": "layers" }""", "*LayersPattern is set without LayersToTransform*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "layers_to_transform": "0" }""", "*'layers_to_transform' must be a number*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "layers_to_transform": [0, 1.5] }""", "*'layers_to_transform' must be a list of whole numbers*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "layers_to_transform": [0], "layers_pattern": 3 }""", "*'layers_pattern' must be a string*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": "q.*", "layers_to_transform": [0] }""", "*LayersToTransform cannot be used with TargetModulesRegex*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "exclude_modules": "(a+)+(" }""", "*ExcludeModulesRegex is not a valid regular expression*")]
    [InlineData("""{ "peft_type": "LORA", "target_modules": ["q"], "alora_invocation_tokens": [1, 2] }""", "*'alora_invocation_tokens' is set*")]
    [InlineData("""{ "peft_type": "LILY", "target_modules": ["q_proj", "proj"] }""", "*'q_proj' and 'proj' overlap*")]
    public void Invalid_shared_fields_are_rejected_naming_the_field(string json, string message)
    {
        var read = () => Read(json);

        read.Should().Throw<InvalidDataException>().WithMessage("my/adapter_config.json: " + message);
    }
}
