using Lily.Experiments.FashionMnist;
using Lily.FashionMnist;
using Lily.Planning;
using Lily.Tuners;

namespace Lily.Tests.Experiments;

public class SweepTests
{
    // By hand for the sample's ViT (dim 64, MLP 128, 4 blocks, 5 classes): per block and rank,
    // q/k/v/o 4 · (64 + 64) and fc1, fc2 (64 + 128) each; the head trained in full 64 · 5 + 5.
    [Theory]
    [InlineData("all-targets", 4 * (4 * 128 + 2 * 192))]
    [InlineData("attention-only", 4 * (4 * 128))]
    public void Budgets_are_LoRAs_counts_and_Lily_takes_the_nearest_rank(string variant, int perRank)
    {
        int[] ranks = [1, 2, 4, 8, 16];
        var plan = SweepPlan.For(variant, ranks, strideA: 1, experts: 2);

        plan.Select(p => p.Lily.Budget).Should().Equal(ranks.Select(r => (long)perRank * r + 325));
        plan.Select(p => ((LilyConfig)p.Lily.Config).R).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        using var model = FineTuning.BuildModel();
        foreach (var p in plan)
        {
            var lily = (LilyConfig)p.Lily.Config;
            lily.StrideA.Should().Be(1);
            lily.NumB.Should().Be(2);
            PeftPlan.For(model, lily).TrainableParameters.Should().Be(p.Lily.Trainable);
            foreach (int other in new[] { lily.R - 1, lily.R + 1 }.Where(r => r >= 1))
            {
                long count = PeftPlan.For(model, lily with { R = other }).TrainableParameters;
                Math.Abs(count - p.Lily.Budget).Should().BeGreaterThanOrEqualTo(Math.Abs(p.Lily.Trainable - p.Lily.Budget));
            }
        }
        // From r = 4 on the matched budgets are within 5 % (at r = 1 the rank steps are too coarse).
        plan.Where(p => p.LoraRank >= 4).Should().AllSatisfy(p => Math.Abs(p.Lily.RelativeGap).Should().BeLessThan(0.05));

        // The budget is what injection trains.
        var injected = PeftModel.Create(FineTuning.BuildModel(), plan[2].Lora);
        injected.GetParameterSummary().TrainableParameters.Should().Be(plan[2].Lily.Budget);
    }

    // By hand, per target type of the 12-block ViT (m = 12 layers of one shape, p = 4 bases):
    // p (d_in r + r d_out) + m p r²; q/k/v/o are 64 → 64, fc1 64 → 128, fc2 128 → 64; the head 325.
    private static long CLoraCount(int r, int depth) =>
        4 * (4L * (64 * r + r * 64) + depth * 4L * r * r) + 2 * (4L * (64 * r + r * 128) + depth * 4L * r * r) + 325;

    [Fact]
    public void The_deep_variant_has_12_blocks_and_CLoRA_is_matched_by_its_count()
    {
        SweepPlan.DepthOf("deep-all-targets").Should().Be(12);
        SweepPlan.DepthOf("all-targets").Should().Be(4);
        var plan = SweepPlan.For("deep-all-targets", [1, 4], strideA: 1, experts: 2, cloraBases: 4, sadeWeight: 0.1);
        plan.Select(p => p.Lily.Budget).Should().Equal(new[] { 1, 4 }.Select(r => 12L * (4 * 128 + 2 * 192) * r + 325), "LoRA's count on 12 blocks");
        foreach (var p in plan)
        {
            var clora = (CLoraConfig)p.CLora.Config;
            clora.NumBases.Should().Be(4);
            clora.SadeWeight.Should().Be(0.1);
            p.CLora.Trainable.Should().Be(CLoraCount(clora.R, 12));
            foreach (int other in new[] { clora.R - 1, clora.R + 1 }.Where(r => r >= 1))
                Math.Abs(CLoraCount(other, 12) - p.CLora.Budget).Should().BeGreaterThanOrEqualTo(Math.Abs(p.CLora.Trainable - p.CLora.Budget));
            p.Methods().Select(m => m.Method).Should().Equal("lora", "dora", "lily", "clora", "clora-sade");
            ((CLoraConfig)p.Methods()[3].Config).SadeWeight.Should().Be(0, "the plain CLoRA run has SADE off");
        }
    }

    // By hand: DoRA is LoRA plus one magnitude per output row of every adapted layer; per 4-block ViT
    // block q/k/v/o give 4 · 64 and fc1, fc2 128 + 64, so 4 · 448 = 1,792 on top of LoRA's count.
    private static long DoraCount(int r, int depth, bool attentionOnly) =>
        attentionOnly ? depth * (4L * 128 * r + 4 * 64) + 325 : depth * ((4L * 128 + 2 * 192) * r + 4 * 64 + 128 + 64) + 325;

    [Theory]
    [InlineData("all-targets")]
    [InlineData("attention-only")]
    [InlineData("deep-all-targets")]
    public void DoRA_is_matched_by_the_librarys_count_with_its_magnitudes(string variant)
    {
        int[] ranks = [1, 2, 4, 8, 16];
        int depth = SweepPlan.DepthOf(variant);
        bool attentionOnly = variant == "attention-only";
        var plan = SweepPlan.For(variant, ranks, strideA: 1, experts: 2);
        using var model = FineTuning.BuildModel(depth);
        foreach (var p in plan)
        {
            var dora = (LoraConfig)p.Dora.Config;
            dora.UseDora.Should().BeTrue();
            dora.LoraAlpha.Should().Be(2 * dora.R, "the sweep's LoRA recipe: alpha 2r at the matched rank");
            dora.TargetModules.Should().Equal(p.Lora.TargetModules);
            p.Dora.Budget.Should().Be(PeftPlan.For(model, p.Lora).TrainableParameters);
            p.Dora.Trainable.Should().Be(PeftPlan.For(model, dora).TrainableParameters).And.Be(DoraCount(dora.R, depth, attentionOnly));
            foreach (int other in new[] { dora.R - 1, dora.R + 1 }.Where(r => r >= 1))
                Math.Abs(DoraCount(other, depth, attentionOnly) - p.Dora.Budget).Should().BeGreaterThanOrEqualTo(Math.Abs(p.Dora.Trainable - p.Dora.Budget));
            // The magnitudes are exactly half a rank's worth here, so r and r − 1 tie; ties go to the smaller count.
            dora.R.Should().Be(Math.Max(1, p.LoraRank - 1));
        }

        // The matched count is what injection trains.
        var injected = PeftModel.Create(FineTuning.BuildModel(depth), plan[2].Dora.Config);
        injected.GetParameterSummary().TrainableParameters.Should().Be(plan[2].Dora.Trainable);
        injected.AdaptedModules.Should().AllSatisfy(a => ((LoraLinear)a.Layer).UseDora.Should().BeTrue());
    }

    [Fact]
    public void DoRA_stays_out_of_the_update_analysis_and_says_why()
    {
        var plan = SweepPlan.For("attention-only", [2], strideA: 1, experts: 2);
        var dora = PeftModel.Create(FineTuning.BuildModel(), plan[0].Dora.Config);
        var lora = PeftModel.Create(FineTuning.BuildModel(), plan[0].Lora);
        UpdateAnalysis.CanAnalyse(dora).Should().BeFalse();
        UpdateAnalysis.CanAnalyse(lora).Should().BeTrue();
        var act = () => UpdateAnalysis.Of(dora, null!, "attention-only", "dora");
        act.Should().Throw<NotSupportedException>().WithMessage("*blocks.0.attn.q_proj*DoRA layer*");
    }

    [Fact]
    public void Report_writes_the_table_the_csv_and_the_three_plots()
    {
        var points = SweepPlan.For("attention-only", [1, 2], strideA: 1, experts: 2);
        var runs = new List<SweepRun>();
        foreach (var p in points)
            foreach (int seed in new[] { 1, 2 })
            {
                runs.Add(new SweepRun(p.Variant, "lora", p.LoraRank, p.LoraRank, seed, p.Lily.Budget, 0.80 + 0.01 * p.LoraRank + 0.001 * seed, 1));
                runs.Add(new SweepRun(p.Variant, "dora", p.LoraRank, ((LoraConfig)p.Dora.Config).R, seed, p.Dora.Trainable, 0.79 + 0.01 * p.LoraRank + 0.001 * seed, 1));
                runs.Add(new SweepRun(p.Variant, "lily", p.LoraRank, ((LilyConfig)p.Lily.Config).R, seed, p.Lily.Trainable, 0.78 + 0.01 * p.LoraRank, 1));
                runs.Add(new SweepRun(p.Variant, "clora", p.LoraRank, ((CLoraConfig)p.CLora.Config).R, seed, p.CLora.Trainable, 0.83 + 0.01 * p.LoraRank + 0.003 * seed, 1));
            }
        string[] paths = ["blocks.0.attn.q_proj", "blocks.0.attn.k_proj"];
        var layers = paths.Select(path => new LayerAnalysis("attention-only", "lora", path, 1.5, []))
            .Concat(paths.Select(path => new LayerAnalysis("attention-only", "lily", path, 1.8, [0.4, 0.6])))
            .Concat(paths.Select(path => new LayerAnalysis("attention-only", "clora", path, 3.1, []))).ToList();
        var folder = Path.Combine(Path.GetTempPath(), "lily-sweep-" + Guid.NewGuid().ToString("N"));
        try
        {
            SweepReport.Write(runs, layers, points, analysisRank: 2, folder, "test");

            foreach (var file in SweepReport.PlotFiles("attention-only"))
                File.ReadAllBytes(Path.Combine(folder, file)).Take(4).Should().Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, file);
            File.ReadAllLines(Path.Combine(folder, "sweep.csv")).Should().HaveCount(1 + runs.Count);
            File.ReadAllLines(Path.Combine(folder, "sweep-layers.csv")).Should().HaveCount(1 + layers.Count);
            var md = File.ReadAllText(Path.Combine(folder, "sweep.md"));
            md.Should().Contain("| attention-only | 4 | 2 | LoRA | 2 | 4,421 | 82.15 ± 0.07 % |")
                .And.Contain("| Lily | 3 | 5,029 (+13.8%) | 80.00 ± 0.00 % | -2.15 pp (±0.07) | 2 |")
                .And.Contain($"| CLoRA | {((CLoraConfig)points[1].CLora.Config).R} |").And.Contain("85.45 ± 0.21 % | +3.30 pp (±0.22) | 2 |")
                // DoRA at LoRA r = 2's budget (4,421): r = 1 with 4 · (4 · (64 + 64) + 4 · 64) + 325 = 3,397.
                .And.Contain("| attention-only | 4 | 2 | DoRA | 1 | 3,397 (-23.2%) | 81.15 ± 0.07 % | -1.00 pp (±0.10) | 2 |");

            // LoRA and DoRA alone (--sweep-methods lora dora): no Lily layers, so no routing plot, and the rest is written.
            var subset = Path.Combine(folder, "lora-dora");
            SweepReport.Write(runs.Where(r => r.Method is "lora" or "dora").ToList(), layers.Where(l => l.Method == "lora").ToList(), points, analysisRank: 2, subset, "test");
            var files = SweepReport.PlotFiles("attention-only");
            File.Exists(Path.Combine(subset, files[0])).Should().BeTrue();
            File.Exists(Path.Combine(subset, files[1])).Should().BeTrue();
            File.Exists(Path.Combine(subset, files[2])).Should().BeFalse();
            File.ReadAllText(Path.Combine(subset, "sweep.md")).Should().Contain("| DoRA | 1 | 3,397 (-23.2%) |").And.NotContain("| Lily |");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
