using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

using Lily.FashionMnist;
using Lily.Deploy;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// Deploying a trained Lily adapter where only LoRA runs: test accuracy of the routed adapter, of the
/// same adapter with each layer's routing frozen to its mean mixture over calibration images, of that
/// frozen adapter exported as a plain PEFT LoRA and loaded into a fresh model, and of the export
/// squeezed by SVD to lower ranks.
/// </summary>
internal sealed class Deployment(Dictionary<string, Tensor> pretrained, Device device, string folder)
{
    /// <summary>Training images whose routing calibrates the frozen mixtures.</summary>
    public const int CalibrationImages = 2000;

    /// <summary>Measures the deployment of <paramref name="peft"/> (trained Lily, seed <paramref name="seed"/>).</summary>
    public DeploymentResult Measure(PeftModel<VisionTransformer> peft, FashionMnistDataset train, FashionMnistDataset test, int seed)
    {
        var model = peft.Model;
        model.eval();
        int rank = ((LilyConfig)peft.Config).R;
        double routed = Trainer.Evaluate(model, test);

        var calibration = train.Batches(500).Take(CalibrationImages / 500).Select(b => b.X.to(device)).ToList();
        peft.FreezeRouting(peft.CalibrateRouting(calibration));
        double frozen = Trainer.Evaluate(model, test);

        var dir = Path.Combine(folder, "deploy", $"seed{seed}");
        peft.ExportAsLora(Path.Combine(dir, "lora"));
        double exported = EvaluateLoaded(Path.Combine(dir, "lora"), test);

        var squeezed = new List<SqueezedResult>();
        foreach (int k in SqueezeRanks(rank))
        {
            var report = peft.ExportSqueezedLora(Path.Combine(dir, $"lora-r{k}"), k);
            squeezed.Add(new SqueezedResult(k, report.EnergyKept, EvaluateLoaded(Path.Combine(dir, $"lora-r{k}"), test)));
        }
        peft.UnfreezeRouting();
        foreach (var t in calibration) t.Dispose();
        return new DeploymentResult(seed, rank, routed, frozen, exported, squeezed);
    }

    /// <summary>Halving ranks below <paramref name="rank"/>, down to 1.</summary>
    public static IReadOnlyList<int> SqueezeRanks(int rank)
    {
        var ranks = new List<int>();
        for (int k = rank / 2; k >= 1; k /= 2) ranks.Add(k);
        return ranks;
    }

    // A fresh copy of the pretrained ViT with the exported LoRA loaded (its trained head comes with it).
    private double EvaluateLoaded(string adapter, FashionMnistDataset test)
    {
        using var fresh = FineTuning.BuildModel();
        fresh.load_state_dict(pretrained);
        fresh.ResetHead();
        fresh.to(device);
        PeftModel.Load(fresh, adapter);
        return Trainer.Evaluate(fresh, test);
    }

    /// <summary>Prints the table and writes <c>deployment.csv</c> and <c>deployment.md</c>.</summary>
    public static void Write(IReadOnlyList<DeploymentResult> results, string folder, string command, IAnsiConsole console)
    {
        var rows = new List<(string What, MeanStd Accuracy, string Energy)>
        {
            ("Lily, routed (as trained)", MeanStd.Of(results.Select(r => r.Routed)), "–"),
            ("Lily, routing frozen to the calibrated mixture", MeanStd.Of(results.Select(r => r.Frozen)), "–"),
            ($"exported PEFT LoRA, rank {results[0].Rank}", MeanStd.Of(results.Select(r => r.Exported)), "100 %"),
        };
        foreach (int k in results[0].Squeezed.Select(s => s.Rank))
        {
            var at = results.Select(r => r.Squeezed.First(s => s.Rank == k)).ToList();
            rows.Add(($"squeezed LoRA, rank {k}", MeanStd.Of(at.Select(s => s.Accuracy)), MeanStd.Of(at.Select(s => s.EnergyKept)).Percent()));
        }

        var table = new Table().Title("Deploying Lily as LoRA").AddColumns("adapter", "test accuracy", "energy kept");
        foreach (var row in rows) table.AddRow(Markup.Escape(row.What), row.Accuracy.Percent(), row.Energy);
        console.Write(table);

        var csv = new System.Text.StringBuilder("seed,rank,routed,frozen,exported,squeezed_rank,energy_kept,squeezed_accuracy\n");
        foreach (var r in results)
            foreach (var s in r.Squeezed.DefaultIfEmpty())
                csv.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{r.Seed},{r.Rank},{r.Routed:F4},{r.Frozen:F4},{r.Exported:F4},{s?.Rank},{s?.EnergyKept:F4},{s?.Accuracy:F4}");
        File.WriteAllText(Path.Combine(folder, "deployment.csv"), csv.ToString());
        var md = new System.Text.StringBuilder($"Command: `{command}` ({results.Count} seeds; calibration: {CalibrationImages} training images)\n\n| adapter | test accuracy | energy kept |\n| --- | ---: | ---: |\n");
        foreach (var row in rows) md.AppendLine($"| {row.What} | {row.Accuracy.Percent()} | {row.Energy} |");
        File.WriteAllText(Path.Combine(folder, "deployment.md"), md.ToString());
        console.MarkupLine($"Wrote [blue]{Markup.Escape(Path.Combine(folder, "deployment.csv"))}[/] and deployment.md.");
    }
}

/// <summary>One seed's deployment measurements (accuracies in [0, 1]).</summary>
internal sealed record DeploymentResult(int Seed, int Rank, double Routed, double Frozen, double Exported, IReadOnlyList<SqueezedResult> Squeezed);

/// <summary>The export squeezed to <paramref name="Rank"/>: the share of ΔW's energy kept and the accuracy.</summary>
internal sealed record SqueezedResult(int Rank, double EnergyKept, double Accuracy);
