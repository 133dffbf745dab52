using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>PEFT's from_pretrained semantics (is_trainable) and one source of truth for Lily's routing.</summary>
public sealed class LoadSemanticsTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-semantics-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    private void SaveOne(LilyRouting routing = LilyRouting.BatchMean, ILoggerFactory? factory = null)
    {
        manual_seed(31);
        var peft = PeftModel.Create(new ToyModel(2, 6, 8, 3), new LilyConfig { TargetModules = ["q_proj"], R = 2, ModulesToSave = ["head"] }, factory);
        foreach (var l in peft.AdaptedModules.Select(a => (LilyLinear)a.Layer)) l.Routing = routing;
        peft.Save(directory);
    }

    [Fact]
    public void By_default_a_loaded_adapter_is_frozen_in_eval_mode_and_says_so()
    {
        SaveOne();
        var model = new ToyModel(2, 6, 8, 3);
        model.train();
        var peft = PeftModel.Load(model, directory);
        peft.TrainableParameters().Should().BeEmpty();
        model.modules().Should().OnlyContain(m => !m.training);
        peft.Config.InferenceMode.Should().BeTrue();
        var again = directory + "-again";
        try
        {
            peft.Save(again);
            File.ReadAllText(Path.Combine(again, "adapter_config.json")).Should().Contain("\"inference_mode\": true", "inference_mode is written as it is");
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [Fact]
    public void IsTrainable_keeps_the_adapter_and_modules_to_save_trainable()
    {
        SaveOne();
        File.ReadAllText(Path.Combine(directory, "adapter_config.json")).Should().Contain("\"inference_mode\": false");
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Load(model, directory, isTrainable: true);
        peft.Config.InferenceMode.Should().BeFalse();
        model.training.Should().BeTrue();
        var trainable = peft.TrainableParameters();
        trainable.Sum(p => p.numel()).Should().Be(peft.GetParameterSummary().TrainableParameters).And.BeGreaterThan(3 * 6 + 3, "adapter and head");
    }

    [Fact]
    public void The_routing_written_is_the_routing_the_layers_compute_and_PEFTs_blind_spot_is_logged()
    {
        using var provider = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider));
        SaveOne(LilyRouting.PerToken, factory);
        File.ReadAllText(Path.Combine(directory, "adapter_config.json")).Should().Contain("\"lily_routing\": \"PerToken\"");
        provider.Messages.Should().Contain(m => m.Contains("PEFT ignores the 'lily_routing' field") && m.Contains("PerToken"));
        var loaded = PeftModel.Load(new ToyModel(2, 6, 8, 3), directory);
        loaded.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).Routing == LilyRouting.PerToken);
    }

    [Fact]
    public void Layers_that_route_differently_cannot_be_saved()
    {
        manual_seed(31);
        var peft = PeftModel.Create(new ToyModel(2, 6, 8, 3), new LilyConfig { TargetModules = ["q_proj"], R = 2 });
        ((LilyLinear)peft.AdaptedModules[0].Layer).Routing = LilyRouting.PerSample;
        var save = () => peft.Save(directory);
        save.Should().Throw<InvalidOperationException>().WithMessage("*route in different ways*PerSample*");
        Directory.Exists(directory).Should().BeFalse();
    }
}
