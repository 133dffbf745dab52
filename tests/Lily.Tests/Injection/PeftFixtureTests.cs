using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// Adapter folders written by Hugging Face PEFT itself (see Fixtures/peft/README.md): loaded into the
/// same model written in C#, they must compute PEFT's outputs. Among them exclude_modules,
/// layers_to_transform / layers_pattern, modules_to_save, rsLoRA and a float16 file.
/// </summary>
public sealed class PeftFixtureTests
{
    [Theory]
    [MemberData(nameof(PeftFixtureNet.Fixtures), MemberType = typeof(PeftFixtureNet))]
    public void PEFT_written_adapters_load_and_match_PEFT_outputs(string fixture)
    {
        var dir = PeftFixtureNet.Dir(fixture);
        var model = PeftFixtureNet.LoadBase(dir);
        var (input, baseOutput, expected) = PeftFixtureNet.LoadIo(dir);
        model.call(input).allclose(baseOutput, rtol: 0, atol: 1e-5).Should().BeTrue();

        var peft = PeftModel.Load(model, dir);
        var output = model.call(input);
        (output - expected).abs().max().item<float>().Should().BeLessThan(1e-5f, $"PEFT's output for {fixture}");
        peft.Config.InferenceMode.Should().BeTrue();
        model.training.Should().BeFalse("loading for inference puts the model in eval mode, as PEFT does");
        peft.TrainableParameters().Should().BeEmpty("an adapter loaded for inference is frozen");
    }

    [Fact]
    public void PEFT_layer_selection_is_reproduced()
    {
        PeftModel.Load(PeftFixtureNet.LoadBase(PeftFixtureNet.Dir("lora_exclude")), PeftFixtureNet.Dir("lora_exclude"))
            .AdaptedModules.Select(a => a.Path).Should().NotContain(["model.layers.0.q_proj", "model.layers.2.fc2"])
            .And.HaveCount(3 * 4 - 2);
        PeftModel.Load(PeftFixtureNet.LoadBase(PeftFixtureNet.Dir("lily_layers")), PeftFixtureNet.Dir("lily_layers"))
            .AdaptedModules.Select(a => a.Path).Should().OnlyContain(p => !p.StartsWith("model.layers.3.", StringComparison.Ordinal))
            .And.HaveCount(3 * 3);
        var mts = PeftModel.Load(PeftFixtureNet.LoadBase(PeftFixtureNet.Dir("lily_mts")), PeftFixtureNet.Dir("lily_mts"));
        mts.ModulesToSavePaths.Should().Equal("model.layers.0.fc2", "model.layers.1.fc2", "model.layers.2.fc2", "model.layers.3.fc2");
    }

    [Fact]
    public void Layers_to_transform_without_a_pattern_takes_the_first_index_as_PEFT_does_on_an_MoE_model()
    {
        // PEFT PR #3318: the index is the first ".<name>.<digits>." — the layer, not the expert.
        var dir = PeftFixtureNet.Dir("moe_layers");
        var model = MoeFixtureNet.LoadBase(dir);
        var (input, baseOutput, expected) = PeftFixtureNet.LoadIo(dir);
        model.call(input).allclose(baseOutput, rtol: 0, atol: 1e-5).Should().BeTrue();
        var peft = PeftModel.Load(model, dir);
        peft.AdaptedModules.Select(a => a.Path).Should().Equal("model.layers.1.mlp.experts.0.up_proj", "model.layers.1.mlp.experts.1.up_proj");
        (model.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void All_linear_here_and_PEFTs_full_path_list_as_the_README_states()
    {
        // Ours: every Linear but the last, grouped by name: q, v, fc1 (4 layers each: 2 A, 1 pool, 4 routers) and fc2 (3: 2 + 1 + 3).
        var ours = PeftModel.Create(new PeftFixtureNet(), new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2, StrideA = 2 });
        ours.AdaptedModules.Select(a => a.Path).Should().HaveCount(15).And.NotContain("model.layers.3.fc2");
        ours.TrainableParameters().Should().HaveCount(27);
        // PEFT's all-linear on a plain model: every Linear's full path, so each layer is its own group.
        var paths = new PeftFixtureNet().named_modules().Where(m => m.module is TorchSharp.Modules.Linear).Select(m => m.name).ToList();
        var theirs = PeftModel.Create(new PeftFixtureNet(), new LilyConfig { TargetModules = paths, R = 2, StrideA = 2 });
        theirs.AdaptedModules.Should().HaveCount(16);
        theirs.TrainableParameters().Should().HaveCount(48);
    }

    [Fact]
    public void A_PEFT_file_saved_again_round_trips_through_our_loader()
    {
        var dir = PeftFixtureNet.Dir("lily_layers");
        var model = PeftFixtureNet.LoadBase(dir);
        var peft = PeftModel.Load(model, dir);
        var again = Path.Combine(Path.GetTempPath(), "lily-fixture-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.Save(again);
            var config = File.ReadAllText(Path.Combine(again, "adapter_config.json"));
            config.Should().Contain("\"layers_to_transform\": [").And.Contain("\"layers_pattern\": \"layers\"").And.Contain("\"inference_mode\": true");
            var (input, _, expected) = PeftFixtureNet.LoadIo(dir);
            var fresh = PeftFixtureNet.LoadBase(dir);
            PeftModel.Load(fresh, again);
            (fresh.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }
}
