using Lily.Analysis;
using Lily.Deploy;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Docs;

/// <summary>The README's "look inside and deploy" example, compiled and checked.</summary>
public sealed class ResearcherExampleTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lily-research-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    [Fact]
    public void Inspect_calibrate_freeze_merge_export_and_squeeze()
    {
        manual_seed(41);
        var model = new ToyModel(4, 16, 32, 5);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = 4, NumB = 3 });
        foreach (var p in peft.TrainableParameters()) TensorData.Set(p, randn_like(p) * 0.5);   // stands in for training
        var batches = Enumerable.Range(0, 3).Select(_ => randn(8, 6, 16)).ToList();
        string exportDir = Path.Combine(root, "as-lora"), squeezedDir = Path.Combine(root, "rank-2");
        var routed = model.call(batches[0]).detach().clone();

        // begin-snippet: research
        // Look inside: each layer's ΔW spectrum (at the mean routing over the data) and its routing.
        AdapterInspection inspection = peft.Inspect(batches);
        foreach (var layer in inspection.Layers)
            Console.WriteLine($"{layer.Path}: rank {layer.Spectrum.NumericalRank}, effective rank {layer.Spectrum.EffectiveRank:F2}, " +
                              $"routing entropy {layer.Routing!.MeanTokenEntropy:F3}");
        Console.WriteLine($"mean Jensen–Shannon divergence between layers' mixtures: {inspection.LayerDivergence!.MeanOffDiagonal:F4}");

        // Deploy Lily as LoRA: freeze every layer's routing to its mean mixture over calibration data.
        var mixtures = peft.CalibrateRouting(batches);
        peft.FreezeRouting(mixtures);       // each update is now a fixed rank-≤r matrix
        peft.ExportAsLora(exportDir);       // a plain PEFT LoRA adapter, exact: any LoRA runtime loads it
        var report = peft.ExportSqueezedLora(squeezedDir, rank: 2);   // truncated by SVD of ΔW
        Console.WriteLine($"rank 2 keeps {report.EnergyKept:P1} of the update's energy");
        peft.Merge();                       // frozen Lily folds into W like LoRA
        // end-snippet

        var merged = model.call(batches[0]).detach().clone();
        inspection.Layers.Should().HaveCount(8).And.OnlyContain(l => l.Spectrum.NumericalRank <= 4 && l.Routing!.TokenCount == 3 * 8 * 6);
        report.EnergyKept.Should().BeInRange(0, 1).And.BeLessThan(1);
        merged.allclose(routed, atol: 1e-4).Should().BeFalse("frozen routing is the dataset mean, not this batch's mean");

        peft.Unmerge();
        peft.UnfreezeRouting();
        model.call(batches[0]).allclose(routed, atol: 1e-5).Should().BeTrue("unfrozen and unmerged, the model routes again");

        manual_seed(41);
        var fresh = new ToyModel(4, 16, 32, 5);
        PeftModel.Load(fresh, exportDir).Config.Should().BeOfType<LoraConfig>();
        fresh.call(batches[0]).allclose(merged, atol: 1e-4).Should().BeTrue("the exported LoRA computes what merged frozen Lily computes");
    }

    [Fact]
    public void A_Lily_adapter_with_frozen_routing_cannot_be_saved_as_Lily()
    {
        manual_seed(42);
        var peft = PeftModel.Create(new ToyModel(2, 8, 16, 3), new LilyConfig { TargetModules = ["q_proj"], R = 2 });
        peft.FreezeRouting(peft.CalibrateRouting([randn(4, 3, 8)]));
        var save = () => peft.Save(root);
        save.Should().Throw<InvalidOperationException>().WithMessage("*frozen routing*ExportAsLora*");
        Directory.Exists(root).Should().BeFalse();
    }
}
