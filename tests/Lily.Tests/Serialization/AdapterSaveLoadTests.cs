using System.Text.Json;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using TorchSharp.Modules;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>Save then load gives back the same adapter: outputs, values, sharing and file contents.</summary>
public sealed class AdapterSaveLoadTests : IDisposable
{
    private const int Depth = 3, Dim = 6, Hidden = 10, Classes = 4;

    private readonly string directory = Directory.CreateTempSubdirectory("lily-adapter-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static ToyModel BaseModel(int seed)
    {
        manual_seed(seed);
        return new ToyModel(Depth, Dim, Hidden, Classes);
    }

    /// <summary>Adapts a seed-built model, gives every trainable tensor random values and returns its output on x.</summary>
    private static (PeftModel<ToyModel> Peft, Tensor Output) Trained(PeftConfig config, int seed, Tensor x)
    {
        var peft = PeftModel.Create(BaseModel(seed), config);
        Randomize(peft);
        peft.Model.eval();
        return (peft, peft.Model.call(x));
    }

    private static LilyConfig LilyConfigFor(LilyRouting routing) => new()
    {
        TargetModules = ["q_proj", "v_proj", "fc1", "fc2"],
        R = 2,
        StrideA = 2,     // 3 layers: A blocks {0, 1} and {2}
        NumB = 3,
        Scaling = 0.5,
        Routing = routing,
        ModulesToSave = ["head"],
    };

    private static readonly LoraConfig LoraConfigForTests = new()
    {
        TargetModules = ["q_proj", "v_proj", "fc2"],
        R = 3,
        LoraAlpha = 5,
        UseRsLora = true,
        ModulesToSave = ["head"],
    };

    public static TheoryData<AdapterLayout, LilyRouting> LilyCases()
    {
        var data = new TheoryData<AdapterLayout, LilyRouting>();
        foreach (var layout in new[] { AdapterLayout.Peft, AdapterLayout.Compact })
            foreach (var routing in Enum.GetValues<LilyRouting>())
                data.Add(layout, routing);
        return data;
    }

    [Theory]
    [MemberData(nameof(LilyCases))]
    public void Lily_round_trip_gives_identical_outputs_and_values(AdapterLayout layout, LilyRouting routing)
    {
        var x = randn(2, 5, Dim);
        var (saved, expected) = Trained(LilyConfigFor(routing), seed: 11, x);
        saved.Save(directory, layout);

        var fresh = BaseModel(seed: 11);
        fresh.eval();
        fresh.call(x).allclose(expected).Should().BeFalse("the adapters and the head change the output, so the test can fail");
        var loaded = PeftModel.Load(fresh, directory, isTrainable: true);

        loaded.Model.Should().BeSameAs(fresh);
        loaded.Config.Should().BeEquivalentTo(saved.Config, o => o.ComparingByMembers<LilyConfig>());
        loaded.AdaptedModules.Select(a => ((LilyLinear)a.Layer).Routing).Should().AllBeEquivalentTo(routing);
        Identical(fresh.call(x), expected).Should().BeTrue("the loaded model computes exactly what was saved");
        var want = AdapterValues(saved);
        foreach (var (key, value) in AdapterValues(loaded))
            Identical(value, want[key]).Should().BeTrue($"{key} is restored bit for bit");
    }

    [Theory]
    [InlineData(AdapterLayout.Peft)]
    [InlineData(AdapterLayout.Compact)]
    public void Lora_round_trip_gives_identical_outputs_and_values(AdapterLayout layout)
    {
        var x = randn(4, Dim);
        var (saved, expected) = Trained(LoraConfigForTests, seed: 12, x);
        saved.Save(directory, layout);

        var fresh = BaseModel(seed: 12);
        fresh.eval();
        fresh.call(x).allclose(expected).Should().BeFalse();
        var loaded = PeftModel.Load(fresh, directory, isTrainable: true);

        loaded.Config.Should().BeEquivalentTo(saved.Config, o => o.ComparingByMembers<LoraConfig>());
        loaded.AdaptedModules.Select(a => a.Path).Should().Equal(saved.AdaptedModules.Select(a => a.Path));
        Identical(fresh.call(x), expected).Should().BeTrue();
        var want = AdapterValues(saved);
        AdapterValues(loaded).Keys.Should().BeEquivalentTo(want.Keys);
        foreach (var (key, value) in AdapterValues(loaded))
            Identical(value, want[key]).Should().BeTrue($"{key} is restored bit for bit");
    }

    [Fact]
    public void Modules_to_save_are_restored_and_trainable_after_load()
    {
        var x = randn(3, Dim);
        var (saved, _) = Trained(LoraConfigForTests, seed: 13, x);
        var head = saved.Model.named_parameters().Where(p => p.name.StartsWith("head.")).ToDictionary(p => p.name, p => p.parameter.detach().clone());
        saved.Save(directory);

        var fresh = BaseModel(seed: 13);
        var loaded = PeftModel.Load(fresh, directory, isTrainable: true);

        loaded.ModulesToSavePaths.Should().Equal("head");
        var after = fresh.named_parameters().Where(p => p.name.StartsWith("head.")).ToList();
        after.Select(p => p.name).Should().BeEquivalentTo(["head.weight", "head.bias"]);
        foreach (var (name, p) in after)
        {
            Identical(p, head[name]).Should().BeTrue($"{name} holds the saved, trained values");
            p.requires_grad.Should().BeTrue("a module to save keeps training after load");
        }
    }

    [Theory]
    [InlineData(AdapterLayout.Peft)]
    [InlineData(AdapterLayout.Compact)]
    public void Sharing_is_restored_after_load_and_trainable_count_follows_the_formula(AdapterLayout layout)
    {
        var (saved, _) = Trained(LilyConfigFor(LilyRouting.BatchMean), seed: 14, randn(1, Dim));
        saved.Save(directory, layout);

        var loaded = PeftModel.Load(BaseModel(seed: 14), directory, isTrainable: true);

        var byType = loaded.AdaptedModules.GroupBy(a => a.Path.Split('.')[^1]).ToDictionary(g => g.Key, g => g.Select(a => (LilyLinear)a.Layer).ToList());
        byType.Keys.Should().BeEquivalentTo(["q_proj", "v_proj", "fc1", "fc2"]);
        foreach (var (type, layers) in byType)
        {
            layers.Should().HaveCount(Depth);
            layers[1].LilyA.Should().BeSameAs(layers[0].LilyA, $"{type} layers 0 and 1 share one A (stride 2)");
            layers[1].LilyA.weight.Should().BeSameAs(layers[0].LilyA.weight);
            layers[2].LilyA.Should().NotBeSameAs(layers[0].LilyA, $"{type} layer 2 starts the next A block");
            layers[1].LilyB.Should().BeSameAs(layers[0].LilyB, $"all {type} layers share one expert pool");
            layers[2].LilyB.Should().BeSameAs(layers[0].LilyB);
            layers.Select(l => l.Router).Distinct().Should().HaveCount(Depth, "routers are per layer");
        }
        byType["q_proj"][0].LilyB.Should().NotBeSameAs(byType["v_proj"][0].LilyB, "each target type has its own pool");

        // Sharing means one tensor: a change through one layer is seen by the other.
        using (no_grad()) byType["fc1"][1].LilyA.weight!.add_(1);
        Identical(byType["fc1"][0].LilyA.weight!, byType["fc1"][1].LilyA.weight!).Should().BeTrue();

        // ceil(L / stride_A) · d_in · r + E · r · d_out + L · E · r per target type, plus the head.
        static long Lily(long dIn, long dOut) => 2 * dIn * 2 + 3 * 2 * dOut + Depth * 3 * 2;
        long expected = Lily(Dim, Dim) * 2 + Lily(Dim, Hidden) + Lily(Hidden, Dim) + (Dim * Classes + Classes);
        loaded.GetParameterSummary().TrainableParameters.Should().Be(expected);
        loaded.TrainableParameters().Sum(p => p.numel()).Should().Be(expected);
    }

    [Fact]
    public void Peft_layout_holds_exactly_peft_keys_and_shapes()
    {
        // 2 blocks of dim 4 / hidden 6, Lily r = 2, stride_A = 2, num_B = 3 on q_proj and fc1, head saved.
        manual_seed(15);
        var peft = PeftModel.Create(new ToyModel(2, 4, 6, 3), new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, StrideA = 2, NumB = 3, ModulesToSave = ["head"] });
        peft.Save(directory, AdapterLayout.Peft);

        var expected = new Dictionary<string, long[]>
        {
            ["base_model.model.layers.0.q_proj.lily_A.weight"] = [2, 4],
            ["base_model.model.layers.0.q_proj.lily_B.weight"] = [6, 4],
            ["base_model.model.layers.0.q_proj.lily_router.weight"] = [3, 2],
            ["base_model.model.layers.0.mlp.fc1.lily_A.weight"] = [2, 4],
            ["base_model.model.layers.0.mlp.fc1.lily_B.weight"] = [6, 6],
            ["base_model.model.layers.0.mlp.fc1.lily_router.weight"] = [3, 2],
            ["base_model.model.layers.1.q_proj.lily_A.weight"] = [2, 4],
            ["base_model.model.layers.1.q_proj.lily_B.weight"] = [6, 4],
            ["base_model.model.layers.1.q_proj.lily_router.weight"] = [3, 2],
            ["base_model.model.layers.1.mlp.fc1.lily_A.weight"] = [2, 4],
            ["base_model.model.layers.1.mlp.fc1.lily_B.weight"] = [6, 6],
            ["base_model.model.layers.1.mlp.fc1.lily_router.weight"] = [3, 2],
            ["base_model.model.head.weight"] = [3, 4],
            ["base_model.model.head.bias"] = [3],
        };
        var file = SafeTensorsReader.ReadFile(WeightsPath(directory));
        file.Names.Should().BeEquivalentTo(expected.Keys);
        foreach (var entry in file.Entries)
        {
            entry.Shape.Should().Equal(expected[entry.Name], entry.Name);
            entry.DType.Should().Be(SafeTensorsDType.F32);
        }
        var configHash = System.Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(ConfigPath(directory)))).ToLowerInvariant();
        file.Metadata.Should().Equal(new Dictionary<string, string> { ["format"] = "pt", ["lily.config_sha256"] = configHash },
            "PEFT's files carry only the format; ours add the hash of the config saved with them");

        // The copies of a shared tensor hold the same values.
        file["base_model.model.layers.1.q_proj.lily_A.weight"].Data.ToArray().Should().Equal(file["base_model.model.layers.0.q_proj.lily_A.weight"].Data.ToArray());
        file["base_model.model.layers.1.mlp.fc1.lily_B.weight"].Data.ToArray().Should().Equal(file["base_model.model.layers.0.mlp.fc1.lily_B.weight"].Data.ToArray());
    }

    [Fact]
    public void Compact_layout_stores_each_shared_tensor_once_and_maps_the_others()
    {
        manual_seed(16);
        var peft = PeftModel.Create(new ToyModel(2, 4, 6, 3), new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, StrideA = 2, NumB = 3, ModulesToSave = ["head"] });
        peft.Save(directory, AdapterLayout.Compact);

        var file = SafeTensorsReader.ReadFile(WeightsPath(directory));
        file.Names.Should().BeEquivalentTo(
            "base_model.model.layers.0.q_proj.lily_A.weight",
            "base_model.model.layers.0.q_proj.lily_B.weight",
            "base_model.model.layers.0.q_proj.lily_router.weight",
            "base_model.model.layers.0.mlp.fc1.lily_A.weight",
            "base_model.model.layers.0.mlp.fc1.lily_B.weight",
            "base_model.model.layers.0.mlp.fc1.lily_router.weight",
            "base_model.model.layers.1.q_proj.lily_router.weight",
            "base_model.model.layers.1.mlp.fc1.lily_router.weight",
            "base_model.model.head.weight",
            "base_model.model.head.bias");
        file.Metadata["format"].Should().Be("pt");
        file.Metadata["lily.layout"].Should().Be("compact");
        JsonSerializer.Deserialize<Dictionary<string, string>>(file.Metadata["lily.shared"]).Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["base_model.model.layers.1.q_proj.lily_A.weight"] = "base_model.model.layers.0.q_proj.lily_A.weight",
            ["base_model.model.layers.1.q_proj.lily_B.weight"] = "base_model.model.layers.0.q_proj.lily_B.weight",
            ["base_model.model.layers.1.mlp.fc1.lily_A.weight"] = "base_model.model.layers.0.mlp.fc1.lily_A.weight",
            ["base_model.model.layers.1.mlp.fc1.lily_B.weight"] = "base_model.model.layers.0.mlp.fc1.lily_B.weight",
        });
    }

    [Fact]
    public void Compact_file_is_smaller_by_exactly_the_omitted_copies()
    {
        // 8 parallel 16 -> 16 layers, Lily r = 4, stride_A = 1, num_B = 2.
        const int layers = 8, d = 16, r = 4, e = 2;
        manual_seed(17);
        var peft = PeftModel.Create(new ParallelLinears(layers, d, d), new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = r, NumB = e });
        string peftDir = Path.Combine(directory, "peft"), compactDir = Path.Combine(directory, "compact");
        peft.Save(peftDir, AdapterLayout.Peft);
        peft.Save(compactDir, AdapterLayout.Compact);

        // PEFT: every layer writes A, the pool and its router. Compact: the pool once.
        const long peftElements = layers * (r * d + e * r * d + e * r);        // 1600
        const long compactElements = layers * (r * d + e * r) + e * r * d;       // 704
        DataSectionLength(WeightsPath(peftDir)).Should().Be(4 * peftElements);
        DataSectionLength(WeightsPath(compactDir)).Should().Be(4 * compactElements);
        peft.GetParameterSummary().TrainableParameters.Should().Be(compactElements, "compact stores each trainable element once");

        long peftBytes = new FileInfo(WeightsPath(peftDir)).Length, compactBytes = new FileInfo(WeightsPath(compactDir)).Length;
        compactBytes.Should().BeLessThan(peftBytes);
        ((double)DataSectionLength(WeightsPath(peftDir)) / DataSectionLength(WeightsPath(compactDir)))
            .Should().BeApproximately((double)peftElements / compactElements, 1e-12);
    }

    [Theory]
    [InlineData(AdapterLayout.Peft)]
    [InlineData(AdapterLayout.Compact)]
    public void Saving_a_loaded_adapter_reproduces_the_files_byte_for_byte(AdapterLayout layout)
    {
        var (saved, _) = Trained(LilyConfigFor(LilyRouting.PerToken), seed: 18, randn(1, Dim));
        saved.Save(directory, layout);
        var weights = File.ReadAllBytes(WeightsPath(directory));
        var config = File.ReadAllBytes(ConfigPath(directory));

        var loaded = PeftModel.Load(BaseModel(seed: 18), directory, isTrainable: true);
        string again = Path.Combine(directory, "again");
        loaded.Save(again, layout);

        File.ReadAllBytes(WeightsPath(again)).Should().Equal(weights);
        File.ReadAllBytes(ConfigPath(again)).Should().Equal(config);
    }

    [Fact]
    public void Loaded_lora_merges_and_unloads_to_the_same_output()
    {
        var x = randn(5, Dim);
        var (saved, _) = Trained(LoraConfigForTests with { ModulesToSave = null }, seed: 19, x);
        saved.Save(directory);

        var fresh = BaseModel(seed: 19);
        var loaded = PeftModel.Load(fresh, directory, isTrainable: true);
        var unmerged = fresh.call(x);

        var plain = loaded.MergeAndUnload();

        plain.named_modules().Select(m => m.module).Should().NotContain(m => m is AdapterLinear);
        plain.named_modules().Count(m => m.module is Linear).Should().Be(Depth * 5 + 1);
        plain.call(x).allclose(unmerged, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
        plain.call(x).allclose(BaseModel(seed: 19).call(x), atol: 1e-3).Should().BeFalse("the merged weights carry the loaded update");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Loaded_adapters_follow_the_models_training_mode(bool training)
    {
        var (saved, _) = Trained(LoraConfigForTests with { LoraDropout = 0.5 }, seed: 21, randn(1, Dim));
        saved.Save(directory);
        var fresh = BaseModel(seed: 21);
        fresh.train(training);

        var loaded = PeftModel.Load(fresh, directory, isTrainable: true);

        fresh.modules().Should().OnlyContain(m => m.training == training, "injected layers take the mode of the layers they replace");
        if (!training)
        {
            // In eval mode LoRA dropout is off: the loaded model is deterministic and equals the saved one.
            var x = randn(8, Dim);
            Identical(fresh.call(x), fresh.call(x)).Should().BeTrue();
            Identical(fresh.call(x), saved.Model.call(x)).Should().BeTrue();
        }
        loaded.AdaptedModules.Should().HaveCount(9);
    }

    [Fact]
    public void Load_logs_what_it_injected()
    {
        var (saved, _) = Trained(LoraConfigForTests, seed: 20, randn(1, Dim));
        saved.Save(directory);
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));

        PeftModel.Load(BaseModel(seed: 20), directory, loggerFactory: factory, isTrainable: true);

        logs.Messages.Should().Contain(m => m.Contains("LORA on 9 layers"));
        logs.Messages.Should().NotContain(m => m.Contains("missing") || m.Contains("ignored"), "a strict, complete load has nothing to warn about");
    }
}
