using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// Files built by hand exactly as Hugging Face PEFT writes them (keys, shapes, duplicated shared
/// tensors, an adapter_config.json with PEFT's fields, sorted, including ones we ignore) load and
/// compute what the formulas give, evaluated here with plain loops.
/// </summary>
public sealed class PeftFileCompatibilityTests : IDisposable
{
    private const int InFeatures = 3, OutFeatures = 2;

    private readonly string directory = Directory.CreateTempSubdirectory("lily-peft-file-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    // Known values, multiples of 1/8 in [-0.75, 0.75]: exact in float32, float16 and bfloat16.
    private static double[][] Known(int rows, int cols, int seed) =>
        Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Select(j => (((seed * 31 + i * 7 + j * 5) % 13) - 6) / 8.0).ToArray()).ToArray();

    private static double[][][] Input() => [Known(3, InFeatures, 101), Known(3, InFeatures, 102)];   // 2 samples × 3 tokens

    /// <summary>ParallelLinears whose base weights and biases are the known values; returns them too.</summary>
    private static (ParallelLinears Model, double[][][] W, double[][] B) KnownBase(int layers)
    {
        var model = new ParallelLinears(layers, InFeatures, OutFeatures);
        var w = Enumerable.Range(0, layers).Select(i => Known(OutFeatures, InFeatures, 10 + i)).ToArray();
        var b = Enumerable.Range(0, layers).Select(i => Known(1, OutFeatures, 20 + i)[0]).ToArray();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        for (int i = 0; i < layers; i++)
        {
            TensorData.Set(parameters[$"proj.{i}.weight"], TensorData.Matrix(w[i]));
            TensorData.Set(parameters[$"proj.{i}.bias"], tensor(b[i], dtype: ScalarType.Float32));
        }
        model.eval();
        return (model, w, b);
    }

    private void WriteConfig(string json) => File.WriteAllText(ConfigPath(directory), json);

    // adapter_config.json as PEFT writes it: json.dumps(indent=2, sort_keys=True), with fields we ignore.
    private const string LilyConfigJson = """
        {
          "auto_mapping": null,
          "base_model_name_or_path": "toy/parallel-linears",
          "exclude_modules": null,
          "inference_mode": true,
          "init_weights": true,
          "layers_pattern": null,
          "layers_to_transform": null,
          "modules_to_save": null,
          "num_B": 2,
          "peft_type": "LILY",
          "peft_version": "0.18.1",
          "r": 2,
          "revision": null,
          "scaling": 0.5,
          "stride_A": 2,
          "target_modules": "proj\\.\\d+",
          "task_type": null
        }
        """;

    private const string LoraConfigJson = """
        {
          "alpha_pattern": {},
          "auto_mapping": null,
          "base_model_name_or_path": "toy/parallel-linears",
          "bias": "none",
          "corda_config": null,
          "eva_config": null,
          "exclude_modules": null,
          "fan_in_fan_out": false,
          "inference_mode": true,
          "init_lora_weights": true,
          "layer_replication": null,
          "layers_pattern": null,
          "layers_to_transform": null,
          "loftq_config": {},
          "lora_alpha": 3,
          "lora_bias": false,
          "lora_dropout": 0.05,
          "megatron_config": null,
          "megatron_core": "megatron.core",
          "modules_to_save": null,
          "peft_type": "LORA",
          "peft_version": "0.17.1",
          "qalora_group_size": 16,
          "r": 2,
          "rank_pattern": {},
          "revision": null,
          "target_modules": [
            "proj.1",
            "proj.0"
          ],
          "target_parameters": null,
          "task_type": null,
          "trainable_token_indices": null,
          "use_dora": false,
          "use_qalora": false,
          "use_rslora": false
        }
        """;

    // Lily on 4 layers, r = 2, num_B = 2, stride_A = 2: A0 serves layers 0-1, A1 layers 2-3, one pool B.
    private const int LilyLayers = 4, R = 2, Experts = 2;
    private static readonly double[][][] SharedA = [Known(R, InFeatures, 30), Known(R, InFeatures, 31)];
    private static readonly double[][] Pool = Known(Experts * R, OutFeatures, 40);                  // [num_B·r, out]
    private static readonly double[][][] Routers = Enumerable.Range(0, LilyLayers).Select(i => Known(Experts, R, 50 + i)).ToArray();

    /// <summary>PEFT's Lily state dict: every layer writes its A, the pool and its router (duplicates included).</summary>
    private static List<SafeTensorEntry> LilyEntries(SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        var entries = new List<SafeTensorEntry>();
        for (int i = 0; i < LilyLayers; i++)
        {
            string prefix = $"base_model.model.proj.{i}.";
            entries.Add(Convert(F32(prefix + "lily_A.weight", SharedA[i / 2]), dtype));
            entries.Add(Convert(F32(prefix + "lily_B.weight", Pool), dtype));
            entries.Add(Convert(F32(prefix + "lily_router.weight", Routers[i]), dtype));
        }
        return entries;
    }

    private static double[][][] ExpectedLily(double[][][] w, double[][] b)
    {
        var experts = Enumerable.Range(0, Experts).Select(e => Pool.Skip(e * R).Take(R).ToArray()).ToArray();   // [E][r][out]
        var x = Input();
        double[][][]? sum = null;
        for (int i = 0; i < LilyLayers; i++)
        {
            var y = LilyReference.Forward(x, w[i], b[i], SharedA[i / 2], Routers[i], experts, 0.5, LilyRouting.BatchMean);
            sum = sum is null ? y : sum.Zip(y, (s, t) => s.Zip(t, (u, v) => u.Zip(v, (p, q) => p + q).ToArray()).ToArray()).ToArray();
        }
        return sum!;
    }

    [Theory]
    [InlineData(nameof(SafeTensorsDType.F32))]
    [InlineData(nameof(SafeTensorsDType.F16))]
    [InlineData(nameof(SafeTensorsDType.BF16))]
    public void Peft_lily_file_loads_and_computes_the_formula(string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        WriteConfig(LilyConfigJson);
        SafeTensorsWriter.Save(WeightsPath(directory), LilyEntries(dtype));
        var (model, w, b) = KnownBase(LilyLayers);

        var peft = PeftModel.Load(model, directory);

        var config = peft.Config.Should().BeOfType<LilyConfig>().Subject;
        config.R.Should().Be(2);
        config.StrideA.Should().Be(2);
        config.NumB.Should().Be(2);
        config.Scaling.Should().Be(0.5);
        config.TargetModulesRegex.Should().Be(@"proj\.\d+");
        config.Routing.Should().Be(LilyRouting.BatchMean);
        var layers = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        layers.Should().HaveCount(LilyLayers);
        layers[1].LilyA.Should().BeSameAs(layers[0].LilyA);
        layers[3].LilyA.Should().BeSameAs(layers[2].LilyA);
        layers.Select(l => l.LilyB).Distinct().Should().ContainSingle();
        layers.Should().OnlyContain(l => l.LilyA.weight!.dtype == ScalarType.Float32, "the file's dtype is converted to the model's");

        var y = model.call(TensorData.Cube(Input()));
        y.allclose(TensorData.Cube(ExpectedLily(w, b)), rtol: 0, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void Peft_lora_file_loads_and_computes_the_formula()
    {
        WriteConfig(LoraConfigJson);
        var a = new[] { Known(2, InFeatures, 60), Known(2, InFeatures, 61) };
        var bUp = new[] { Known(OutFeatures, 2, 70), Known(OutFeatures, 2, 71) };
        SafeTensorsWriter.Save(WeightsPath(directory), new[]
        {
            F32("base_model.model.proj.0.lora_A.weight", a[0]),
            F32("base_model.model.proj.0.lora_B.weight", bUp[0]),
            F32("base_model.model.proj.1.lora_A.weight", a[1]),
            F32("base_model.model.proj.1.lora_B.weight", bUp[1]),
        }, new Dictionary<string, string> { ["format"] = "pt" });
        var (model, w, b) = KnownBase(2);

        var peft = PeftModel.Load(model, directory);

        var config = peft.Config.Should().BeOfType<LoraConfig>().Subject;
        config.Scaling.Should().Be(1.5);
        config.LoraDropout.Should().Be(0.05);
        config.TargetModules.Should().Equal("proj.1", "proj.0");
        // y = Σ_i W_i x + b_i + (alpha / r) · B_i A_i x, by loops (the model is in eval mode: no dropout).
        var x = Input();
        var expected = x.Select(sample => sample.Select(token => Enumerable.Range(0, OutFeatures).Select(o =>
        {
            double sum = 0;
            for (int i = 0; i < 2; i++)
            {
                sum += b[i][o] + Enumerable.Range(0, InFeatures).Sum(k => w[i][o][k] * token[k]);
                for (int j = 0; j < 2; j++)
                    sum += 1.5 * bUp[i][o][j] * Enumerable.Range(0, InFeatures).Sum(k => a[i][j][k] * token[k]);
            }
            return sum;
        }).ToArray()).ToArray()).ToArray();
        model.call(TensorData.Cube(x)).allclose(TensorData.Cube(expected), rtol: 0, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData("proj.1", "lily_A", "proj.0")]     // A0 is shared by layers 0 and 1
    [InlineData("proj.3", "lily_A", "proj.2")]     // A1 by layers 2 and 3
    [InlineData("proj.3", "lily_B", "proj.0")]     // the pool by all four
    public void Per_layer_copies_that_differ_load_unshared_as_written_with_a_warning_naming_both_keys(string changedLayer, string tensorName, string firstLayer)
    {
        // As PEFT's load_adapter reads a Lily file (no sharing step): every layer keeps the tensors written for it.
        WriteConfig(LilyConfigJson);
        string changed = $"base_model.model.{changedLayer}.{tensorName}.weight";
        var entries = LilyEntries().Select(e => e.Name != changed ? e
            : F32(e.Name, e.Shape.ToArray(), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(e.Data.Span).ToArray().Select((v, k) => k == 1 ? v + 0.25 : v))).ToList();
        SafeTensorsWriter.Save(WeightsPath(directory), entries);
        var (model, _, _) = KnownBase(LilyLayers);
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));

        var peft = PeftModel.Load(model, directory, loggerFactory: factory);

        logs.Warnings.Should().ContainSingle().Which.Should()
            .Contain($"'base_model.model.{firstLayer}.{tensorName}.weight' and '{changed}'").And.Contain("largest difference 0.25");
        var saved = peft.StateDictEntries().ToDictionary(e => e.Key, e => (Tensor)e.Parameter);
        foreach (var entry in entries)
            saved[entry.Name].allclose(SafeTensorsReader.ToTensor(entry), rtol: 0, atol: 0).Should().BeTrue(entry.Name);
    }

    [Fact]
    public void Our_peft_layout_file_matches_the_hand_built_peft_file_tensor_for_tensor()
    {
        WriteConfig(LilyConfigJson);
        SafeTensorsWriter.Save(WeightsPath(directory), LilyEntries());
        var peft = PeftModel.Load(KnownBase(LilyLayers).Model, directory);
        string ours = Path.Combine(directory, "ours");

        peft.Save(ours);

        var theirs = SafeTensorsReader.ReadFile(WeightsPath(directory));
        var saved = SafeTensorsReader.ReadFile(WeightsPath(ours));
        saved.Names.Should().BeEquivalentTo(theirs.Names);
        foreach (var entry in saved.Entries)
        {
            entry.Shape.Should().Equal(theirs[entry.Name].Shape, entry.Name);
            entry.Data.ToArray().Should().Equal(theirs[entry.Name].Data.ToArray(), entry.Name);
        }
        // Our config carries the same PEFT fields and values.
        var config = AdapterConfigFile.FromJson(File.ReadAllText(ConfigPath(ours)));
        config.Should().BeEquivalentTo(peft.Config, o => o.ComparingByMembers<LilyConfig>());
    }
}
