using System.Text.Json.Nodes;
using Lily.Analysis;
using Lily.Deploy;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Deploy;

public sealed class LoraExportTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("lily-export-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Lily_exported_as_LoRA_loads_as_LoRA_and_computes_what_the_frozen_Lily_model_computes()
    {
        var peft = DeployModels.Lily(11, modulesToSave: ["head"]);
        var x = randn(3, 4, DeployModels.Dim);
        peft.FreezeRouting(peft.CalibrateRouting([randn(5, 4, DeployModels.Dim), randn(2, DeployModels.Dim)]));
        var frozen = peft.Model.call(x);

        var config = peft.ExportAsLora(directory);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, AdapterConfigFile.FileName)))!;
        json["peft_type"]!.GetValue<string>().Should().Be("LORA");
        json["r"]!.GetValue<int>().Should().Be(3);
        json["lora_alpha"]!.GetValue<double>().Should().Be(3);
        json["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()).Should().BeEquivalentTo(["q_proj", "v_proj", "fc1"]);
        json["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal("head");
        config.Scaling.Should().Be(1);

        var loaded = PeftModel.Load(DeployModels.Base(11), directory);
        loaded.Config.Should().BeOfType<LoraConfig>();
        loaded.AdaptedModules.Select(a => a.Path).Should().Equal(peft.AdaptedModules.Select(a => a.Path));
        DeployModels.MaxDifference(loaded.Model.call(x), frozen).Should().BeLessThan(1e-5);
        using (loaded.DisableAdapters())
            DeployModels.MaxDifference(loaded.Model.call(x), frozen).Should().BeGreaterThan(1e-3, "the adapter and the saved head carry the difference");
    }

    [Fact]
    public void Exported_factors_are_A_and_scaling_times_the_mixed_experts()
    {
        var peft = DeployModels.Lily(12, scaling: 0.7);
        var mixtures = peft.AdaptedModules.ToDictionary(a => a.Path, _ => new[] { 0.1, 0.6, 0.3 });

        peft.ExportAsLora(directory, mixtures);

        var loaded = PeftModel.Load(DeployModels.Base(12), directory);
        var lily = (LilyLinear)peft.AdaptedModules[1].Layer;
        var lora = (LoraLinear)loaded.AdaptedModules[1].Layer;
        lora.LoraA.weight!.allclose(lily.LilyA.weight!, rtol: 0, atol: 0).Should().BeTrue();
        var pool = lily.LilyB.Weight.view(3, 3, DeployModels.Dim);
        var expectedB = ((pool[0] * 0.1 + pool[1] * 0.6 + pool[2] * 0.3) * 0.7).t();
        DeployModels.MaxDifference(lora.LoraB.weight!, expectedB).Should().BeLessThan(1e-6);
        peft.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).FrozenMixture == null, "giving mixtures does not freeze the model");
    }

    [Fact]
    public void Exporting_a_routing_Lily_without_mixtures_is_refused_and_writes_nothing()
    {
        var peft = DeployModels.Lily(13);
        Action export = () => peft.ExportAsLora(directory);
        export.Should().Throw<ArgumentException>().WithMessage("*CalibrateRouting*");
        Directory.EnumerateFileSystemEntries(directory).Should().BeEmpty();
    }

    [Fact]
    public void Squeezing_LoRA_to_its_own_rank_reproduces_its_outputs()
    {
        var peft = DeployModels.Lora(14, r: 4, alpha: 6);
        var x = randn(3, DeployModels.Dim);
        var original = peft.Model.call(x);

        var report = peft.ExportSqueezedLora(directory, 4);

        report.EnergyKept.Should().BeApproximately(1, 1e-12);
        report.Layers.Should().HaveCount(6).And.OnlyContain(l => l.OriginalRank == 4 && Math.Abs(l.EnergyKept - 1) < 1e-12);
        var loaded = PeftModel.Load(DeployModels.Base(14), directory);
        ((LoraLinear)loaded.AdaptedModules[0].Layer).Scaling.Should().Be(1);
        DeployModels.MaxDifference(loaded.Model.call(x), original).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Squeezing_to_a_lower_rank_writes_the_best_rank_k_update_and_reports_the_energy_kept()
    {
        var peft = DeployModels.Lora(15, r: 4, alpha: 6);
        const int k = 2;

        var report = peft.ExportSqueezedLora(directory, k);

        var loaded = PeftModel.Load(DeployModels.Base(15), directory);
        loaded.Config.Should().BeOfType<LoraConfig>().Which.R.Should().Be(k);
        double keptSum = 0, totalSum = 0;
        for (int i = 0; i < peft.AdaptedModules.Count; i++)
        {
            var delta = ((LoraLinear)peft.AdaptedModules[i].Layer).DeltaWeight().to(ScalarType.Float64);
            var squeezed = ((LoraLinear)loaded.AdaptedModules[i].Layer).DeltaWeight().to(ScalarType.Float64);
            // By hand: the SVD of the dense ΔW, cut to k.
            var (u, s, vh) = linalg.svd(delta, fullMatrices: false);
            var best = u[.., ..k].matmul(diag(s[..k])).matmul(vh[..k, ..]);
            DeployModels.MaxDifference(squeezed, best).Should().BeLessThan(1e-5);
            linalg.matrix_rank(squeezed, rtol: 1e-5).item<long>().Should().Be(k);
            var sq = TensorData.ToDoubles(s * s);
            double expectedEnergy = sq.Take(k).Sum() / sq.Sum();
            report.Layers[i].EnergyKept.Should().BeApproximately(expectedEnergy, 1e-6).And.BeLessThan(1);
            keptSum += sq.Take(k).Sum();
            totalSum += sq.Sum();
        }
        report.EnergyKept.Should().BeApproximately(keptSum / totalSum, 1e-6).And.BeLessThan(1);
    }

    [Fact]
    public void Exported_Lily_can_be_loaded_then_squeezed_again()
    {
        var peft = DeployModels.Lily(16, r: 3);
        peft.FreezeRouting(peft.CalibrateRouting([randn(4, DeployModels.Dim)]));
        var x = randn(2, DeployModels.Dim);
        var frozen = peft.Model.call(x);
        peft.ExportAsLora(directory);
        var loaded = PeftModel.Load(DeployModels.Base(16), directory);
        var squeezedDir = Path.Combine(directory, "squeezed");

        var direct = peft.ExportSqueezedLora(Path.Combine(directory, "direct"), 3);
        var report = loaded.ExportSqueezedLora(squeezedDir, 3);

        report.Layers.Select(l => l.SingularValues[0]).Should().Equal(direct.Layers.Select(l => l.SingularValues[0]), (a, b) => Math.Abs(a - b) < 1e-4);
        DeployModels.MaxDifference(PeftModel.Load(DeployModels.Base(16), squeezedDir).Model.call(x), frozen).Should().BeLessThan(1e-5);
        Action tooHigh = () => loaded.ExportSqueezedLora(squeezedDir, 4);
        tooHigh.Should().Throw<ArgumentOutOfRangeException>();
    }
}
