using System.Diagnostics;
using System.Text;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// Every failure caused by what <c>adapter_config.json</c> holds is an <see cref="InvalidDataException"/> naming the
/// file and the field, whether it is found while reading the file or while applying the config to a model.
/// </summary>
public sealed class ConfigContentErrorTests : IDisposable
{
    private static readonly string LongName = new string('a', 44) + "b";

    private readonly string directory = Directory.CreateTempSubdirectory("lily-config-content-").FullName;
    private readonly string configPath;

    public ConfigContentErrorTests()
    {
        configPath = Path.Combine(directory, AdapterConfigFile.FileName);
        manual_seed(3);
        PeftModel.Create(new ToyModel(2, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj"], R = 2 }).Save(directory);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private void Config(string fields) =>
        File.WriteAllText(configPath, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 8, " + fields + "}");

    private static PeftModel<ToyModel> Toy() => PeftModel.Create(new ToyModel(2, 4, 8, 2), new LoraConfig { TargetModules = ["k_proj"], R = 2 });

    // A module path with many 'a's then a 'b': where (a|aa)+ backtracks through every split before it fails.
    private static PeftModel<TorchSharp.Modules.Sequential> LongNames() =>
        PeftModel.Create(nn.Sequential(("x", nn.Sequential((LongName, nn.Sequential(("0", nn.Sequential(("q", nn.Linear(4, 4)))))))), ("k", nn.Linear(4, 4))),
            new LoraConfig { TargetModules = ["k"], R = 2 });

    [Fact]
    public void Duplicated_key_keeps_the_last_value_as_python_does()
    {
        Config("\"target_modules\": [\"q_proj\"], \"r\": 4, \"target_modules\": [\"v_proj\"]");

        var config = (LoraConfig)PeftModel.LoadConfig(directory);

        config.R.Should().Be(4, "Python's json.load keeps the last of two values for one key");
        config.TargetModules.Should().Equal("v_proj");
    }

    [Theory]
    [InlineData("\"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0], \"layers_pattern\": \"(\"", "LayersPattern")]
    [InlineData("\"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0], \"layers_pattern\": \"layers|blocks\"", "LayersPattern")]
    [InlineData("\"target_modules\": \"x)|(.*\"", "TargetModulesRegex")]
    [InlineData("\"target_modules\": \"(?<name>q)_proj\"", "TargetModulesRegex")]
    [InlineData("\"target_modules\": [\"q_proj\"], \"exclude_modules\": \"(?<=a+)b\"", "ExcludeModulesRegex")]
    public void Bad_patterns_are_invalid_data_naming_the_file_and_the_field(string fields, string field)
    {
        Config(fields);

        var load = () => PeftModel.LoadConfig(directory);

        load.Should().Throw<InvalidDataException>().WithMessage($"{configPath}: {field} is not a valid regular expression*");
    }

    [Fact]
    public void Catastrophic_target_pattern_through_load_adapter_is_invalid_data_naming_the_file()
    {
        Config("\"target_modules\": \"x\\\\.(a|aa)+\\\\.0\\\\.q\"");
        var peft = LongNames();
        var clock = Stopwatch.StartNew();

        var load = () => peft.LoadAdapter(directory, "x");

        load.Should().Throw<InvalidDataException>().WithMessage($"{configPath}*TargetModulesRegex took too long*");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        peft.AdapterNames.Should().Equal("default");
    }

    [Fact]
    public void Catastrophic_layers_pattern_through_load_adapter_is_invalid_data_naming_the_file()
    {
        Config("\"target_modules\": [\"q\"], \"layers_to_transform\": [0], \"layers_pattern\": \"(?:a|aa)+\"");
        var peft = LongNames();

        var load = () => peft.LoadAdapter(directory, "x");

        load.Should().Throw<InvalidDataException>().WithMessage($"{configPath}*LayersPattern took too long*");
        peft.AdapterNames.Should().Equal("default");
    }

    [Fact]
    public void Invalid_utf8_is_invalid_data_naming_the_file()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proX\"]}");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xC3;    // a lead byte with no continuation
        File.WriteAllBytes(configPath, bytes);

        var load = () => Toy().LoadAdapter(directory, "x");

        load.Should().Throw<InvalidDataException>().WithMessage($"{configPath}: not valid UTF-8*");
    }

    [Fact]
    public void Lone_surrogate_escape_is_invalid_data_naming_the_file()
    {
        Config("\"target_modules\": [\"q_proj\\ud800\"]");

        var load = () => PeftModel.LoadConfig(directory);

        load.Should().Throw<InvalidDataException>().WithMessage($"{configPath}: holds text that is not valid Unicode*");
    }

    [Fact]
    public void Oversized_config_is_refused_unread()
    {
        File.WriteAllText(configPath, "{\"peft_type\": \"LORA\", \"x\": \"" + new string('x', 17 << 20) + "\"}");

        var load = () => PeftModel.LoadConfig(directory);

        load.Should().Throw<InvalidDataException>().WithMessage($"*'{configPath}'*at most*");
    }
}
