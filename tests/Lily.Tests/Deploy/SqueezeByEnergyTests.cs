using Lily.Analysis;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Deploy;

/// <summary>
/// Squeezed export with a rank per layer chosen from an energy target, written as <c>rank_pattern</c>:
/// on PEFT's own per-layer-rank file (fixture <c>lora_rank_pattern</c>, ranks 2, 4 and 6).
/// </summary>
public sealed class SqueezeByEnergyTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("lily-squeeze-energy-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static readonly string Fixture = PeftFixtureNet.Dir("lora_rank_pattern");

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Each_layer_keeps_the_smallest_rank_holding_the_energy_and_its_best_truncation(double energy)
    {
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(Fixture), Fixture);

        var report = peft.ExportSqueezedLoraByEnergy(directory, energy);

        var loaded = PeftModel.Load(PeftFixtureNet.LoadBase(Fixture), directory);
        var config = (LoraConfig)loaded.Config;
        config.Should().BeEquivalentTo(report.Config, o => o.ComparingByMembers<LoraConfig>());
        var ranks = new List<int>();
        for (int i = 0; i < peft.AdaptedModules.Count; i++)
        {
            var delta = ((LoraLinear)peft.AdaptedModules[i].Layer).DeltaWeight().to(ScalarType.Float64);
            var squeezed = (LoraLinear)loaded.AdaptedModules[i].Layer;
            // By hand: the smallest k with Σ_{j<k} σ² ≥ energy · Σ σ², and the SVD of ΔW cut to k.
            var (u, s, vh) = linalg.svd(delta, fullMatrices: false);
            var sq = TensorData.ToDoubles(s * s);
            int k = Enumerable.Range(1, sq.Length).First(j => sq.Take(j).Sum() >= energy * sq.Sum());
            squeezed.Rank.Should().Be(k, loaded.AdaptedModules[i].Path);
            squeezed.Scaling.Should().Be(1, "alpha_pattern gives a layer off the common rank alpha = k");
            var best = u[.., ..k].matmul(diag(s[..k])).matmul(vh[..k, ..]);
            DeployModels.MaxDifference(squeezed.DeltaWeight().to(ScalarType.Float64), best).Should().BeLessThan(1e-5);
            report.Layers[i].EnergyKept.Should().BeGreaterThanOrEqualTo(energy - 1e-9);
            ranks.Add(k);
        }
        config.R.Should().Be(ranks.GroupBy(k => k).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First().Key);
        (config.RankPattern?.Count ?? 0).Should().Be(ranks.Count(k => k != config.R), "only layers off the common rank get an entry");
        (config.AlphaPattern?.Count ?? 0).Should().Be(config.RankPattern?.Count ?? 0);
        config.LoraAlpha.Should().Be(config.R);
    }

    [Fact]
    public void Keeping_all_the_energy_reproduces_PEFTs_outputs_with_a_rank_pattern_keyed_by_escaped_paths()
    {
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(Fixture), Fixture);

        var report = peft.ExportSqueezedLoraByEnergy(directory, 1.0);

        report.Config.RankPattern!.Keys.Should().NotBeEmpty().And.OnlyContain(key => key.StartsWith(@"model\.layers\.", StringComparison.Ordinal));
        var model = PeftFixtureNet.LoadBase(Fixture);
        PeftModel.Load(model, directory);
        var (input, _, expected) = PeftFixtureNet.LoadIo(Fixture);
        (model.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void A_LoRA_with_per_layer_ranks_exports_exactly_and_refuses_one_common_squeeze_rank()
    {
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(Fixture), Fixture);

        var config = peft.ExportAsLora(directory);

        config.R.Should().Be(4);
        config.RankPattern!.Keys.Should().BeEquivalentTo(
            Enumerable.Range(0, 4).Select(i => $@"model\.layers\.{i}\.q_proj").Append(@"model\.layers\.1\.fc1"));
        config.RankPattern!.Values.Should().BeEquivalentTo([2, 2, 2, 2, 6]);
        var model = PeftFixtureNet.LoadBase(Fixture);
        PeftModel.Load(model, directory);
        var (input, _, expected) = PeftFixtureNet.LoadIo(Fixture);
        (model.call(input) - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
        var oneRank = () => peft.ExportSqueezedLora(Path.Combine(directory, "squeezed"), 2);
        oneRank.Should().Throw<NotSupportedException>().WithMessage("*ExportSqueezedLoraByEnergy*");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void An_energy_outside_0_to_1_is_refused(double energy)
    {
        var peft = PeftModel.Load(PeftFixtureNet.LoadBase(Fixture), Fixture);
        var export = () => peft.ExportSqueezedLoraByEnergy(directory, energy);
        export.Should().Throw<ArgumentOutOfRangeException>();
        Directory.EnumerateFileSystemEntries(directory).Should().BeEmpty();
    }
}
