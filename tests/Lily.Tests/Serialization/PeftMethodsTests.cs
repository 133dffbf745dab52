using System.Text.Json;
using Lily.Serialization;
using Lily.Tests.ExternalMethod;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>The method registry: a method defined outside the library reads and writes its own fields.</summary>
public class PeftMethodsTests
{
    [Fact]
    public void Built_in_methods_are_registered()
    {
        PeftMethods.RegisteredTypes.Should().Contain(["LILY", "LORA"]);
        PeftMethods.TryGetReader("LORA", out _).Should().BeTrue();
        PeftMethods.TryGetReader("IA3", out _).Should().BeFalse();
    }

    [Fact]
    public void A_method_registered_from_outside_round_trips_with_its_own_field()
    {
        GatedLoraConfigFields.Register();
        var config = new GatedLoraConfig { TargetModules = ["q_proj", "v_proj"], R = 4, GateInit = 0.25, ExcludeModules = ["head"] };

        string json = AdapterConfigFile.ToJson(config);
        var root = JsonDocument.Parse(json).RootElement;
        root.GetProperty("peft_type").GetString().Should().Be("GATED_LORA");
        root.GetProperty("gate_init").GetDouble().Should().Be(0.25);
        root.GetProperty("r").GetInt32().Should().Be(4);
        root.TryGetProperty("lora_dropout", out _).Should().BeFalse("only the method's own fields are written");

        var back = AdapterConfigFile.FromJson(json).Should().BeOfType<GatedLoraConfig>().Subject;
        back.Should().BeEquivalentTo(config, o => o.ComparingByMembers<GatedLoraConfig>());
        AdapterConfigFile.ToJson(back).Should().Be(json);
    }

    [Fact]
    public void The_registered_reader_validates_and_names_the_field()
    {
        GatedLoraConfigFields.Register();

        var read = () => AdapterConfigFile.FromJson("""{ "peft_type": "GATED_LORA", "target_modules": ["q"], "r": 0 }""", "g.json");
        read.Should().Throw<InvalidDataException>().WithMessage("g.json: R must be at least 1 (got 0).*");
        var nullGate = () => AdapterConfigFile.FromJson("""{ "peft_type": "GATED_LORA", "target_modules": ["q"], "gate_init": null }""", "g.json");
        nullGate.Should().Throw<InvalidDataException>().WithMessage("g.json: 'gate_init' must be a number (got null).");
    }

    [Fact]
    public void Registering_again_is_idempotent_but_a_different_reader_is_refused()
    {
        GatedLoraConfigFields.Register();
        PeftMethods.Register(GatedLoraConfig.Type, GatedLoraConfigFields.Read);

        var other = () => PeftMethods.Register("LORA", _ => new GatedLoraConfig());
        other.Should().Throw<ArgumentException>().WithMessage("*'LORA' is already registered*");
    }

    [Fact]
    public void A_field_written_twice_is_refused()
    {
        var config = new TwiceWritten { TargetModules = ["q"] };

        var write = () => AdapterConfigFile.ToJson(config);

        write.Should().Throw<ArgumentException>().WithMessage("*'inference_mode' is written twice*");
    }

    private sealed record TwiceWritten : PeftConfig
    {
        public override string PeftType => "TWICE";

        public override AdapterBuilder CreateBuilder() => throw new NotImplementedException();

        protected override void WriteFields(ConfigFieldWriter w) => w.Set("inference_mode", true);
    }
}
