using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// LoRA's rank_pattern / alpha_pattern: PEFT's key rule (<c>(.*\.)?(key)$</c>, first key in order), a PEFT-written
/// file (fixture <c>lora_rank_pattern</c>) and round trips.
/// </summary>
public sealed class RankPatternTests
{
    [Fact]
    public void A_PEFT_file_with_rank_and_alpha_patterns_loads_with_PEFTs_ranks_and_outputs()
    {
        var dir = PeftFixtureNet.Dir("lora_rank_pattern");
        var model = PeftFixtureNet.LoadBase(dir);
        var (input, _, expected) = PeftFixtureNet.LoadIo(dir);
        var peft = PeftModel.Load(model, dir);
        var layers = peft.AdaptedModules.ToDictionary(a => a.Path, a => (LoraLinear)a.Layer);
        layers.Should().HaveCount(12);
        // The fixture README: q_proj r 2 alpha 8; v_proj r 4 alpha 3; fc1 r 4 alpha 8 except model.layers.1.fc1 r 6.
        foreach (var i in Enumerable.Range(0, 4))
        {
            (layers[$"model.layers.{i}.q_proj"].Rank, layers[$"model.layers.{i}.q_proj"].Scaling).Should().Be((2, 4.0));
            (layers[$"model.layers.{i}.v_proj"].Rank, layers[$"model.layers.{i}.v_proj"].Scaling).Should().Be((4, 0.75));
            (layers[$"model.layers.{i}.fc1"].Rank, layers[$"model.layers.{i}.fc1"].Scaling).Should().Be(i == 1 ? (6, 8.0 / 6) : (4, 2.0));
        }
        (model.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Saved_again_the_patterns_come_back_in_their_order_and_PEFTs_outputs_too()
    {
        var dir = PeftFixtureNet.Dir("lora_rank_pattern");
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(dir), dir);
        var again = Directory.CreateTempSubdirectory("lily-rank-pattern-").FullName;
        try
        {
            peft.Save(again);
            var fresh = PeftFixtureNet.LoadBase(dir);
            var back = (LoraConfig)PeftModel.Load(fresh, again).Config;
            back.RankPattern.Should().Equal(new Dictionary<string, int> { ["model.layers.1.fc1"] = 6, ["q_proj"] = 2 });
            back.AlphaPattern.Should().Equal(new Dictionary<string, double> { ["v_proj"] = 3 });
            var (input, _, expected) = PeftFixtureNet.LoadIo(dir);
            (fresh.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [Fact]
    public void Keys_match_the_whole_path_or_a_dotted_tail_and_the_first_key_wins()
    {
        var config = new LoraConfig
        {
            TargetModules = ["q_proj"], R = 4, LoraAlpha = 8,
            RankPattern = new OrderedDictionary<string, int> { [@"layers\.[01]\.q_proj"] = 2, ["q_proj"] = 3, [@"model\.layers\.0\.q_proj"] = 7 },
            AlphaPattern = new OrderedDictionary<string, double> { ["proj"] = 1 },
        };
        config.RankFor("model.layers.0.q_proj").Should().Be(2, "the first key matching a dotted tail wins, though a later key names the whole path");
        config.RankFor("model.layers.2.q_proj").Should().Be(3);
        config.RankFor("model.layers.2.xq_proj").Should().Be(4, "'q_proj' must follow a dot or start the path");
        config.AlphaFor("model.layers.2.q_proj").Should().Be(8, "'proj' is not a whole dotted segment tail of 'q_proj'");
        config.ScalingFor("model.layers.2.q_proj").Should().Be(8.0 / 3);
        (config with { UseRsLora = true }).ScalingFor("model.layers.0.q_proj").Should().Be(8 / Math.Sqrt(2));
    }

    [Fact]
    public void Patterns_round_trip_through_adapter_config_json_in_order()
    {
        var config = new LoraConfig
        {
            TargetModules = ["q_proj"],
            RankPattern = new OrderedDictionary<string, int> { ["z_last_first"] = 2, ["a_second"] = 5 },
            AlphaPattern = new OrderedDictionary<string, double> { ["q_proj"] = 2.5 },
        };
        var back = ConfigRoundTrip.Of(config);
        back.RankPattern!.Keys.Should().Equal("z_last_first", "a_second");
    }

    [Theory]
    [InlineData("{\"q\": 0}", "*rank_pattern*'q'*")]
    [InlineData("{\"q\": 2.5}", "*rank_pattern*'q'*")]
    [InlineData("[2]", "*rank_pattern*object*")]
    [InlineData("{\"(\": 2}", "*RankPattern key '('*")]
    public void Bad_patterns_in_a_file_are_refused_naming_the_field(string pattern, string message)
    {
        var json = Lily.Serialization.AdapterConfigFile.ToJson(new LoraConfig { TargetModules = ["q_proj"] })
            .Replace("\"rank_pattern\": {}", $"\"rank_pattern\": {pattern}", StringComparison.Ordinal);
        var read = () => Lily.Serialization.AdapterConfigFile.FromJson(json).Validate();
        read.Should().Throw<Exception>().WithMessage(message);
    }

    [Fact]
    public void A_pattern_that_matches_nothing_changes_nothing_and_a_model_built_with_patterns_gets_them()
    {
        var peft = PeftModel.Create(new PeftFixtureNet(), new LoraConfig
        {
            TargetModules = ["q_proj", "fc1"], R = 4,
            RankPattern = new Dictionary<string, int> { ["fc1"] = 8, ["nothing"] = 1 },
        });
        peft.AdaptedModules.Select(a => ((LoraLinear)a.Layer).Rank).Should().Equal(4, 8, 4, 8, 4, 8, 4, 8);
        peft.GetParameterSummary().TrainableParameters.Should().Be(4 * (4 * (16 + 16)) + 4 * (8 * (16 + 32)));
    }
}
