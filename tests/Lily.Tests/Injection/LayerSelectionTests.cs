using Lily.Tests.Support.Zoo;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>PEFT's layer selection: all-linear, exclude_modules, layers_to_transform / layers_pattern.</summary>
public sealed class LayerSelectionTests
{
    private static List<string> Adapted(nn.Module model, PeftConfig config) =>
        PeftModel.Create(model, config).AdaptedModules.Select(a => a.Path).ToList();

    [Fact]
    public void All_linear_leaves_out_the_output_layer_and_groups_Lily_by_name()
    {
        var llama = Zoo.CreateLlama();
        var peft = PeftModel.Create(llama, new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2 });
        peft.AdaptedModules.Select(a => a.Path).Should().HaveCount(2 * 7).And.NotContain("lm_head");
        var config = peft.Config.TargetModules!;
        config.Should().BeEquivalentTo(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "the saved config names the layers, as PEFT writes it");
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        lily.Select(l => l.LilyB).Distinct().Should().HaveCount(7, "one pool per layer name");
    }

    [Fact]
    public void Exclude_modules_by_list_and_by_regex()
    {
        Adapted(new ToyModel(3, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj", "v_proj"], ExcludeModules = ["layers.1.q_proj", "v_proj"] })
            .Should().Equal("layers.0.q_proj", "layers.2.q_proj");
        Adapted(new ToyModel(3, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj", "v_proj"], ExcludeModulesRegex = @"layers\.[02]\..*" })
            .Should().Equal("layers.1.q_proj", "layers.1.v_proj");
    }

    [Fact]
    public void Layers_to_transform_with_and_without_a_pattern()
    {
        // Without a pattern PEFT takes the number after any ".<name>." that has something before it.
        Adapted(new PeftFixtureNet(), new LoraConfig { TargetModules = ["q_proj"], LayersToTransform = [1, 3] })
            .Should().Equal("model.layers.1.q_proj", "model.layers.3.q_proj");
        // The fixture net's layers sit under model.layers.<i>: the pattern needs a prefix before it (PEFT's rule).
        Adapted(new PeftFixtureNet(), new LoraConfig { TargetModules = ["fc1"], LayersToTransform = [0, 2], LayersPattern = ["layers"] })
            .Should().Equal("model.layers.0.fc1", "model.layers.2.fc1");
        var none = () => Adapted(new ToyModel(4, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj"], LayersToTransform = [0], LayersPattern = ["layers"] });
        none.Should().Throw<ArgumentException>("'layers.0.q_proj' has no prefix before 'layers', so PEFT's pattern finds no index")
            .WithMessage("*No module*in layers [0]*");
    }

    [Fact]
    public void Lily_groups_over_the_layers_actually_adapted()
    {
        var peft = PeftModel.Create(new ToyModel(4, 6, 8, 3), new LilyConfig { TargetModules = ["q_proj"], R = 2, StrideA = 2, ExcludeModules = ["layers.0.q_proj"] });
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        lily.Should().HaveCount(3);
        lily.Select(l => l.LilyA).Distinct().Should().HaveCount(2, "ceil(3 / 2) = 2 A's over the three layers adapted");
        ReferenceEquals(lily[0].LilyA, lily[1].LilyA).Should().BeTrue("layers 1 and 2 form the first block");
    }
}
