using Lily.Analysis;
using Lily.Deploy;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// Adapter state dicts (PEFT's get/set_peft_model_state_dict) and weighted combinations of LoRA adapters
/// (PEFT's add_weighted_adapter) against fixture <c>lora_weighted</c>, written by PEFT: sources a (r 4,
/// scaling 2), b (r 2, scaling 3), c (r 4, scaling 1); weights [0.7, 0.3].
/// </summary>
public sealed class WeightedAdapterTests
{
    private static readonly string Root = PeftFixtureNet.Dir("lora_weighted");

    // "a" is loaded first, so it is named "default".
    private static (PeftFixtureNet Model, PeftModel<PeftFixtureNet> Peft) Sources()
    {
        var model = PeftFixtureNet.LoadBase(Root);
        var peft = PeftModel.Load(model, Path.Combine(Root, "a"));
        peft.LoadAdapter(Path.Combine(Root, "b"), "b");
        peft.LoadAdapter(Path.Combine(Root, "c"), "c");
        return (model, peft);
    }

    private static float Gap(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    // scaling·B·A of every layer of a PEFT-written adapter file, by module path.
    private static Dictionary<string, Tensor> DeltasInFile(string dir, double scaling)
    {
        var file = SafeTensorsReader.ReadFile(Path.Combine(dir, PeftModel.WeightsFileName));
        return file.Names.Where(n => n.EndsWith(".lora_A.weight", StringComparison.Ordinal)).ToDictionary(
            n => n[AdapterStateDict.Prefix.Length..^".lora_A.weight".Length],
            n => file.ToTensor(n.Replace("lora_A", "lora_B", StringComparison.Ordinal)).matmul(file.ToTensor(n)) * scaling);
    }

    [Theory]
    [InlineData(LoraCombination.Linear, "c", 4)]
    [InlineData(LoraCombination.Cat, "b", 6)]
    [InlineData(LoraCombination.Svd, "b", 4)]
    public void Combinations_equal_PEFTs(LoraCombination combination, string second, int rank)
    {
        var (model, peft) = Sources();
        string name = combination.ToString().ToLowerInvariant();
        peft.AddWeightedAdapter(["default", second], [0.7, 0.3], name, combination, svdRank: combination == LoraCombination.Svd ? 4 : null);

        var config = (LoraConfig)peft.Configs[name];
        var theirs = (LoraConfig)PeftModel.LoadConfig(Path.Combine(Root, "combined", name));
        (config.R, config.LoraAlpha).Should().Be((theirs.R, theirs.LoraAlpha)).And.Be((rank, (double)rank));
        config.TargetModules.Should().BeEquivalentTo(theirs.TargetModules);
        peft.SetAdapter(name);
        var deltas = DeltasInFile(Path.Combine(Root, "combined", name), 1.0);
        peft.AdaptedModules.Should().HaveCount(deltas.Count);
        foreach (var layer in peft.AdaptedModules)
            Gap(((LoraLinear)layer.Layer).DeltaWeight(), deltas[layer.Path]).Should().BeLessThan(1e-5f, layer.Path);
        Gap(model.call(PeftFixtureNet.LoadIo(Root, "input")), PeftFixtureNet.LoadIo(Root, $"expected_{name}")).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Cat_and_ExactSvd_give_the_weighted_sum_of_the_updates_and_PEFTs_Svd_and_Linear_do_not()
    {
        var (_, peft) = Sources();
        var a = DeltasInFile(Path.Combine(Root, "a"), 2.0);
        var b = DeltasInFile(Path.Combine(Root, "b"), 3.0);
        var c = DeltasInFile(Path.Combine(Root, "c"), 1.0);
        peft.AddWeightedAdapter(["default", "b"], [0.7, 0.3], "cat", LoraCombination.Cat);
        peft.AddWeightedAdapter(["default", "b"], [0.7, 0.3], "exact", LoraCombination.ExactSvd, svdRank: 6);
        peft.AddWeightedAdapter(["default", "b"], [0.7, 0.3], "svd", LoraCombination.Svd, svdRank: 6);
        peft.AddWeightedAdapter(["default", "c"], [0.7, 0.3], "linear", LoraCombination.Linear);
        Tensor Delta(string adapter, string path) => ((LoraLinear)peft.Sites.Single(s => s.Path == path).Adapters[adapter]).DeltaWeight();
        foreach (var path in a.Keys)
        {
            var sum = 0.7 * a[path] + 0.3 * b[path];
            Gap(Delta("cat", path), sum).Should().BeLessThan(1e-5f, "cat is exact");
            Gap(Delta("exact", path), sum).Should().BeLessThan(1e-5f, "rank 6 holds the whole sum");
            Gap(Delta("svd", path), 0.7 * 2 * a[path] + 0.3 * 3 * b[path]).Should().BeLessThan(1e-5f, "PEFT's svd scales each update twice");
            Gap(Delta("linear", path), 0.7 * a[path] + 0.3 * c[path]).Should().BeGreaterThan(1e-3f, "PEFT's linear mixes the factors");
        }
    }

    [Fact]
    public void A_Lily_adapter_joins_a_combination_through_its_LoRA_export()
    {
        var peft = Lily.Tests.Deploy.DeployModels.Lily(21);
        peft.FreezeRouting(peft.CalibrateRouting([randn(4, Lily.Tests.Deploy.DeployModels.Dim)]));
        var x = randn(3, Lily.Tests.Deploy.DeployModels.Dim);
        var frozen = peft.Model.call(x);
        var dir = Directory.CreateTempSubdirectory("lily-weighted-").FullName;
        try
        {
            peft.ExportAsLora(dir);
            peft.LoadAdapter(dir, "lily_lora");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        peft.AddAdapter("lora", new LoraConfig { TargetModules = ["q_proj", "v_proj", "fc1"], R = 2, LoraAlpha = 5, InitLoraWeights = LoraInit.Random });
        var lily = () => peft.AddWeightedAdapter(["default", "lora"], [0.5, 0.5], "x", LoraCombination.Cat);
        lily.Should().Throw<NotSupportedException>().WithMessage("*'default' is LILY*ExportAsLora*");

        peft.AddWeightedAdapter(["lily_lora", "lora"], [0.5, -0.25], "mix", LoraCombination.Cat);

        peft.SetAdapter("lily_lora");
        Gap(peft.Model.call(x), frozen).Should().BeLessThan(1e-5f, "the export is the frozen Lily exactly");
        foreach (var site in peft.Sites)
        {
            Tensor Delta(string name) => ((LoraLinear)site.Adapters[name]).DeltaWeight();
            Gap(Delta("mix"), 0.5 * Delta("lily_lora") - 0.25 * Delta("lora")).Should().BeLessThan(1e-5f, site.Path);
        }
    }

    [Fact]
    public void Bad_combinations_are_refused_and_leave_the_adapters_as_they_were()
    {
        var (_, peft) = Sources();
        var differentRanks = () => peft.AddWeightedAdapter(["default", "b"], [0.5, 0.5], "x", LoraCombination.Linear);
        differentRanks.Should().Throw<ArgumentException>().WithMessage("*one rank (got 4, 2)*");
        var unknown = () => peft.AddWeightedAdapter(["default", "nope"], [0.5, 0.5], "x");
        unknown.Should().Throw<ArgumentException>().WithMessage("*No adapter named 'nope'*");
        var counts = () => peft.AddWeightedAdapter(["default", "b"], [0.5], "x");
        counts.Should().Throw<ArgumentException>().WithMessage("*2 adapters but 1 weights*");
        var taken = () => peft.AddWeightedAdapter(["default", "b"], [0.5, 0.5], "c");
        taken.Should().Throw<ArgumentException>().WithMessage("*already has an adapter named 'c'*");
        peft.AdapterNames.Should().Equal("default", "b", "c");
    }

    [Fact]
    public void A_state_dict_has_the_files_keys_and_values_and_sets_back()
    {
        var (model, peft) = Sources();
        var state = peft.GetAdapterStateDict("c");
        var file = SafeTensorsReader.ReadFile(Path.Combine(Root, "c", PeftModel.WeightsFileName));
        state.Keys.Should().BeEquivalentTo(file.Names);
        foreach (var (key, value) in state) value.allclose(file.ToTensor(key), rtol: 0, atol: 0).Should().BeTrue(key);

        peft.SetAdapterStateDict("default", state);   // a and c have the same shapes
        Gap(model.call(PeftFixtureNet.LoadIo(Root, "input")), PeftFixtureNet.LoadIo(Root, "expected_c") ).Should().BeGreaterThan(1e-3f,
            "c's factors under a's scaling 2 are not c");
        var cLayer = (LoraLinear)peft.Sites[0].Adapters["c"];
        ((LoraLinear)peft.Sites[0].Adapters["default"]).DeltaWeight().div(2).allclose(cLayer.DeltaWeight(), rtol: 0, atol: 1e-6).Should().BeTrue();
    }

    [Fact]
    public void A_state_dict_that_does_not_fit_is_refused_and_changes_nothing()
    {
        var (_, peft) = Sources();
        var before = peft.GetAdapterStateDict("default");
        var wrongShape = new Dictionary<string, Tensor>(peft.GetAdapterStateDict("b"));   // rank 2 into rank 4
        var set = () => peft.SetAdapterStateDict("default", wrongShape);
        set.Should().Throw<InvalidDataException>().WithMessage("*do not fit the model*");
        var missing = new Dictionary<string, Tensor>(before);
        missing.Remove(missing.Keys.First());
        var setMissing = () => peft.SetAdapterStateDict("default", missing);
        setMissing.Should().Throw<InvalidDataException>().WithMessage("*missing 1 key*");
        peft.SetAdapterStateDict("default", missing, strict: false).Missing.Should().ContainSingle();
        foreach (var (key, value) in peft.GetAdapterStateDict("default")) value.allclose(before[key], rtol: 0, atol: 0).Should().BeTrue(key);
    }
}
