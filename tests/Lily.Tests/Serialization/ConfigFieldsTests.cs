using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Lily.Serialization;
using Lily.Tests.ExternalMethod;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>
/// Each method's config fields are declared once, in its <see cref="ConfigFields{TConfig}"/> table; these tests
/// hold every declared field to the promise that writing, reading and defaults follow from that declaration.
/// </summary>
public class ConfigFieldsTests
{
    /// <summary>A method's table seen without its type parameter.</summary>
    private sealed record Table(IReadOnlyList<ConfigField> Fields, Func<PeftConfig> Create);

    public static TheoryData<string> Methods => new() { LoraConfig.Type, LilyConfig.Type, CLoraConfig.Type, GatedLoraConfig.Type };

    private static Table TableOf(string peftType) => peftType switch
    {
        LoraConfig.Type => new(LoraConfig.Fields.All, () => new LoraConfig()),
        LilyConfig.Type => new(LilyConfig.Fields.All, () => new LilyConfig()),
        CLoraConfig.Type => new(CLoraConfig.Fields.All, () => new CLoraConfig()),
        GatedLoraConfig.Type => new(GatedLoraConfig.Fields.All, () => new GatedLoraConfig()),
        _ => throw new ArgumentOutOfRangeException(nameof(peftType)),
    };

    public ConfigFieldsTests() => GatedLoraConfigFields.Register();

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_declared_field_round_trips_with_a_value_other_than_its_default(string peftType)
    {
        var table = TableOf(peftType);
        var properties = table.Fields.Where(f => f.Property is not null).ToList();
        properties.Should().NotBeEmpty();
        string defaultJson = AdapterConfigFile.ToJson(Targeted(table.Create()));

        foreach (var field in properties)
        {
            var config = Targeted(table.Create());
            object value = OtherThan(field.ValueIn(config), PropertyOf(config, field).PropertyType);
            PropertyOf(config, field).SetValue(config, value);

            string json = AdapterConfigFile.ToJson(config);
            json.Should().NotBe(defaultJson, $"'{field.Name}' must be written when {field.Property} is not its default");
            var back = AdapterConfigFile.FromJson(json);

            back.Should().BeOfType(config.GetType());
            Same(field.ValueIn(back), value).Should().BeTrue($"'{field.Name}' must read back as the {field.Property} written ({json})");
            AdapterConfigFile.ToJson(back).Should().Be(json);
        }
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_field_absent_from_the_file_or_as_written_by_default_reads_as_the_property_default(string peftType)
    {
        var table = TableOf(peftType);
        var defaults = table.Create();
        var written = JsonNode.Parse(AdapterConfigFile.ToJson(Targeted(table.Create())))!.AsObject();
        var absent = AdapterConfigFile.FromJson($$"""{ "peft_type": "{{peftType}}", "target_modules": ["q"] }""");

        foreach (var field in table.Fields.Where(f => f.Property is not null))
        {
            Same(field.ValueIn(absent), field.ValueIn(defaults)).Should().BeTrue($"an absent '{field.Name}' reads as {field.Property}'s default");
            if (!written.TryGetPropertyValue(field.Name, out var node)) continue;   // a field written only when not the default
            var alone = new JsonObject { ["peft_type"] = peftType, ["target_modules"] = new JsonArray("q"), [field.Name] = node?.DeepClone() };
            var read = AdapterConfigFile.FromJson(alone.ToJsonString());
            Same(field.ValueIn(read), field.ValueIn(defaults)).Should().BeTrue($"'{field.Name}' as a default config writes it reads as {field.Property}'s default");
        }
    }

    [Theory]
    [InlineData(LoraConfig.Type, """{ "r": 8, "lora_alpha": 8, "lora_dropout": 0, "use_rslora": false, "use_dora": false, "init_lora_weights": true, "bias": "none", "fan_in_fan_out": false, "lora_bias": false, "rank_pattern": {}, "alpha_pattern": {}, "layer_replication": null }""")]
    [InlineData(LilyConfig.Type, """{ "r": 32, "stride_A": 1, "num_B": 2, "scaling": 1, "init_weights": true }""")]
    public void The_defaults_written_are_PEFTs(string peftType, string peftDefaults)
    {
        // PEFT's dataclass defaults (peft/tuners/lora/config.py, peft/tuners/lily/config.py).
        var written = JsonNode.Parse(AdapterConfigFile.ToJson(Targeted(TableOf(peftType).Create())))!.AsObject();
        var expected = JsonNode.Parse(peftDefaults)!.AsObject();

        // Every declared field a default config writes, and no other (Lily's routing is written only when it is not PEFT's).
        TableOf(peftType).Fields.Select(f => f.Name).Where(written.ContainsKey).Should().BeEquivalentTo(expected.Select(p => p.Key));
        foreach (var (name, value) in expected)
            written[name]?.ToJsonString().Should().Be(value?.ToJsonString(), $"PEFT's default for '{name}'");
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_property_a_method_adds_is_a_declared_field(string peftType)
    {
        var table = TableOf(peftType);
        // Settings the file deliberately does not hold (see their docs).
        string[] notInFile = [nameof(LilyConfig.ShareAcrossLayers)];
        var own = table.Create().GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(p => p.SetMethod is not null && !notInFile.Contains(p.Name)).Select(p => p.Name);

        table.Fields.Select(f => f.Property).OfType<string>().Should().BeEquivalentTo(own);
    }

    [Fact]
    public void Every_shared_property_is_a_declared_shared_field()
    {
        // The regex forms share their list form's field (PEFT's union); AutocastAdapterDtype is an argument of
        // PEFT's get_peft_model, not a field of its file.
        string[] notOwnField = [nameof(PeftConfig.TargetModulesRegex), nameof(PeftConfig.ExcludeModulesRegex), nameof(PeftConfig.AutocastAdapterDtype)];
        var shared = typeof(PeftConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(p => p.SetMethod is not null && !notOwnField.Contains(p.Name)).Select(p => p.Name);

        SharedConfigFields.All.Select(f => f.Property).OfType<string>().Should().BeEquivalentTo(shared);
    }

    [Fact]
    public void Shared_fields_read_onto_a_copy_of_the_methods_config()
    {
        var kept = new GatedLoraConfig { R = 3 };
        PeftMethods.TryGetReader(GatedLoraConfig.Type, out _).Should().BeTrue();
        var json = AdapterConfigFile.ToJson(kept with { TargetModules = ["q"], InferenceMode = true });
        var f = new ConfigFieldReader(System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject(), "x.json");

        var applied = SharedConfigFields.Apply(f, kept);

        applied.Should().BeOfType<GatedLoraConfig>().Which.R.Should().Be(3);
        applied.TargetModules.Should().Equal("q");
        applied.InferenceMode.Should().BeTrue();
        kept.TargetModules.Should().BeNull("the reader's own instance is not changed");
        kept.InferenceMode.Should().BeFalse();
    }

    [Fact]
    public void Size_settings_come_from_the_declarations()
    {
        new LilyConfig().RankKnob.Should().Be("r");
        new LilyConfig().ShapeKnobs.Should().Equal("stride_A", "num_B");
        new CLoraConfig().ShapeKnobs.Should().Equal("num_bases");
        new GatedLoraConfig().RankKnob.Should().BeNull("gated LoRA declares no size setting");

        var lily = new LilyConfig { TargetModules = ["q"], R = 4 };
        lily.WithKnob("num_B", 5).Should().Be(lily with { NumB = 5 });
        lily.R.Should().Be(4, "WithKnob copies");
        var unknown = () => lily.WithKnob("scaling", 2);
        unknown.Should().Throw<ArgumentException>().WithMessage("LILY has no size setting 'scaling'*");
    }

    [Fact]
    public void A_field_declared_twice_is_refused()
    {
        var twice = () => new ConfigFields<GatedLoraConfig>().Field(c => c.R, "r").Field(c => c.LoraAlpha, "r");
        twice.Should().Throw<ArgumentException>().WithMessage("The field 'r' is declared twice*");
    }

    private static T Targeted<T>(T config) where T : PeftConfig
    {
        typeof(PeftConfig).GetProperty(nameof(PeftConfig.TargetModules))!.SetValue(config, new[] { "q" });
        return config;
    }

    private static PropertyInfo PropertyOf(PeftConfig config, ConfigField field) => config.GetType().GetProperty(field.Property!)!;

    // A valid value other than the default, of the property's type.
    private static object OtherThan(object? value, Type type)
    {
        if (type == typeof(int)) return (int)value! + 1;
        if (type == typeof(double)) return (double)value! + 0.25;
        if (type == typeof(bool)) return !(bool)value!;
        if (type.IsEnum) return Enum.GetValues(type).Cast<object>().First(v => !v.Equals(value));
        if (type == typeof(IReadOnlyDictionary<string, int>)) return new Dictionary<string, int> { ["b"] = 3, ["a.c"] = 5 };
        if (type == typeof(IReadOnlyDictionary<string, double>)) return new Dictionary<string, double> { ["b"] = 1.5, ["a.c"] = 2.5 };
        throw new NotSupportedException($"No test value for {type.Name}: extend OtherThan.");
    }

    // Equal values; dictionaries by their entries in order (the order patterns are tried in).
    private static bool Same(object? a, object? b) => (a, b) switch
    {
        (IEnumerable x, IEnumerable y) when a is not string => x.Cast<object>().SequenceEqual(y.Cast<object>()),
        _ => Equals(a, b),
    };
}
