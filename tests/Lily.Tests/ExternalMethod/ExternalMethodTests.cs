using System.Text.Json;
using Lily.Injection;
using Lily.Serialization;
using Lily.Tests.Support;
using Microsoft.Extensions.Logging;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// A method defined outside the library (gated LoRA, this folder) gets everything a built-in method
/// gets: matching, freezing, counting, training, saving, loading, merging and both attachment modes.
/// </summary>
public sealed class ExternalMethodTests : IDisposable
{
    private const int Depth = 2, Dim = 6, Hidden = 10, Classes = 4, R = 2;
    private const double Alpha = 4;                 // scaling = alpha / r = 2
    private const double Scaling = Alpha / R;

    private static readonly string[] Paths =
        ["layers.0.q_proj", "layers.0.v_proj", "layers.0.mlp.fc1", "layers.1.q_proj", "layers.1.v_proj", "layers.1.mlp.fc1"];

    private readonly string directory = Directory.CreateTempSubdirectory("lily-gated-").FullName;

    public ExternalMethodTests() => GatedLoraConfigFields.Register();

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static GatedLoraConfig Config(double gateInit = 0) =>
        new() { TargetModules = ["q_proj", "v_proj", "fc1"], R = R, LoraAlpha = Alpha, GateInit = gateInit };

    private static ToyModel BaseModel(int seed)
    {
        manual_seed(seed);
        var model = new ToyModel(Depth, Dim, Hidden, Classes);
        model.eval();
        return model;
    }

    private static GatedLoraLinear[] Layers<T>(PeftModel<T> peft) where T : nn.Module =>
        peft.AdaptedModules.Select(a => (GatedLoraLinear)a.Layer).ToArray();

    private static void SetGates<T>(PeftModel<T> peft, double value) where T : nn.Module
    {
        foreach (var layer in Layers(peft)) TensorData.Set(layer.Gate, tensor(value));
    }

    [Fact]
    public void Create_adapts_the_matched_layers_and_counts_r_d_in_plus_d_out_r_plus_one_per_layer()
    {
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var model = BaseModel(1);
        long baseCount = model.parameters().Sum(p => p.numel());

        var peft = PeftModel.Create(model, Config(), factory);

        peft.AdaptedModules.Select(a => a.Path).Should().Equal(Paths);
        peft.AdaptedModules.Should().OnlyContain(a => a.Layer is GatedLoraLinear && a.Attachment == AdapterAttachment.Replace);
        // Per layer: A [r, d_in], B [d_out, r], the gate []. q_proj and v_proj are 6 → 6, fc1 is 6 → 10.
        long expected = Depth * (2 * (R * Dim + Dim * R + 1) + (R * Dim + Hidden * R + 1));
        var summary = peft.GetParameterSummary();
        summary.TrainableParameters.Should().Be(expected);
        summary.AllParameters.Should().Be(baseCount + expected);
        summary.Modules.Select(m => m.OwnParameters).Should().Equal(Paths.Select(p => p.EndsWith("fc1") ? R * Dim + Hidden * R + 1L : R * Dim + Dim * R + 1L));
        summary.Modules.Should().OnlyContain(m => m.SharedParameters == 0 && m.Method == nameof(GatedLoraLinear));
        // The library froze the base and hung the adapter's modules at PEFT-style paths.
        model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).Should().BeEquivalentTo(
            Paths.SelectMany(p => new[] { $"{p}.lora_A.default.weight", $"{p}.lora_B.default.weight", $"{p}.lora_gate.default.weight" }));
        logs.Messages.Should().Contain(m => m.StartsWith("Gated LoRA: 6 layers adapted with r = 2, scaling = 2, gate_init = 0"));
    }

    [Fact]
    public void At_gate_zero_the_output_is_the_base_models_although_B_is_not_zero()
    {
        var x = randn(3, 5, Dim);
        var model = BaseModel(2);
        var expected = model.call(x);

        var peft = PeftModel.Create(model, Config());

        Layers(peft).Should().OnlyContain(l => l.LoraB.weight!.abs().sum().item<float>() > 0 && l.Gate.item<float>() == 0);
        model.call(x).allclose(expected, rtol: 0, atol: 0).Should().BeTrue();
        SetGates(peft, 0.5);
        model.call(x).allclose(expected, rtol: 1e-3, atol: 1e-3).Should().BeFalse("an open gate lets the update through");
    }

    [Fact]
    public void A_training_step_reaches_the_gate_and_moves_it()
    {
        var x = randn(4, Dim);
        var target = randn(4, Classes);
        var model = BaseModel(3);
        var baseOutput = model.call(x);
        var peft = PeftModel.Create(model, Config());
        model.train();
        var optimizer = optim.SGD(peft.TrainableParameters(), 0.1);

        optimizer.zero_grad();
        var loss = nn.functional.mse_loss(model.call(x), target);
        loss.backward();

        var layers = Layers(peft);
        layers.Select(l => l.Gate.grad!.abs().item<float>()).Should().OnlyContain(g => g > 0);
        // At g = 0 the gate is the only way in: A and B get gradient zero until it opens.
        layers.Should().OnlyContain(l => l.LoraA.weight!.grad!.abs().max().item<float>() == 0 && l.LoraB.weight!.grad!.abs().max().item<float>() == 0);
        model.named_parameters().Where(p => p.name.Contains("base_layer") || p.name.StartsWith("head")).Should().OnlyContain(p => ReferenceEquals(p.parameter.grad, null));

        optimizer.step();
        layers.Should().OnlyContain(l => l.Gate.item<float>() != 0);
        model.eval();
        model.call(x).allclose(baseOutput, rtol: 1e-5, atol: 1e-6).Should().BeFalse("the gates opened");
    }

    [Fact]
    public void Save_writes_the_method_fields_and_one_key_per_parameter()
    {
        var peft = PeftModel.Create(BaseModel(4), Config(gateInit: 0.125));
        SetGates(peft, -0.75);

        peft.Save(directory);

        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, AdapterConfigFile.FileName))).RootElement;
        root.GetProperty("peft_type").GetString().Should().Be("GATED_LORA");
        root.GetProperty("gate_init").GetDouble().Should().Be(0.125);
        root.GetProperty("r").GetInt32().Should().Be(R);
        root.GetProperty("lora_alpha").GetDouble().Should().Be(Alpha);
        root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()).Should().BeEquivalentTo("q_proj", "v_proj", "fc1");

        var file = SafeTensorsReader.ReadFile(Path.Combine(directory, PeftModel.WeightsFileName));
        file.Names.Should().BeEquivalentTo(Paths.SelectMany(p => new[]
        {
            $"base_model.model.{p}.lora_A.weight", $"base_model.model.{p}.lora_B.weight", $"base_model.model.{p}.lora_gate.weight",
        }));
        var gate = file.ToTensor("base_model.model.layers.1.mlp.fc1.lora_gate.weight");
        gate.shape.Should().BeEmpty("the gate is a scalar");
        gate.item<float>().Should().Be(-0.75f);
        file.ToTensor("base_model.model.layers.0.mlp.fc1.lora_B.weight").shape.Should().Equal(Hidden, R);
    }

    [Fact]
    public void Load_into_a_fresh_copy_gives_identical_outputs()
    {
        var x = randn(2, 3, Dim);
        var saved = PeftModel.Create(BaseModel(5), Config());
        using (no_grad())
        {
            foreach (var p in saved.TrainableParameters()) p.copy_(randn_like(p) * 0.5);
        }
        var expected = saved.Model.call(x);
        saved.Save(directory);

        var fresh = BaseModel(5);
        fresh.call(x).allclose(expected).Should().BeFalse("the trained gates change the output, so the test can fail");
        var loaded = PeftModel.Load(fresh, directory);

        loaded.Config.Should().BeOfType<GatedLoraConfig>().Which.Should().BeEquivalentTo(saved.Config with { InferenceMode = true }, o => o.ComparingByMembers<GatedLoraConfig>());
        Layers(loaded).Select(l => l.Gate.item<float>()).Should().Equal(Layers(saved).Select(l => l.Gate.item<float>()));
        fresh.call(x).allclose(expected, rtol: 0, atol: 0).Should().BeTrue();
        loaded.TrainableParameters().Should().BeEmpty("loaded for inference, as PEFT does by default");
    }

    [Fact]
    public void Merge_folds_tanh_g_scaling_B_A_into_the_weight_and_Unmerge_restores_it()
    {
        var x = randn(4, Dim);
        var peft = PeftModel.Create(BaseModel(6), Config());
        SetGates(peft, 0.8);
        var unmerged = peft.Model.call(x);
        var layer = Layers(peft)[0];
        var w0 = layer.BaseLayer.weight!.detach().clone();
        // By hand, in float64: W + tanh(g) · (alpha / r) · B A.
        var b = layer.LoraB.weight!.detach().to(ScalarType.Float64);
        var a = layer.LoraA.weight!.detach().to(ScalarType.Float64);
        var expectedWeight = w0.to(ScalarType.Float64) + Math.Tanh(0.8) * Scaling * b.matmul(a);

        peft.Merge();

        layer.Merged.Should().BeTrue();
        layer.BaseLayer.weight!.to(ScalarType.Float64).allclose(expectedWeight, rtol: 0, atol: 1e-6).Should().BeTrue();
        layer.BaseLayer.weight!.allclose(w0, rtol: 0, atol: 1e-3).Should().BeFalse("the update is large enough to see");
        peft.Model.call(x).allclose(unmerged, rtol: 1e-5, atol: 1e-5).Should().BeTrue();

        peft.Unmerge();

        layer.Merged.Should().BeFalse();
        layer.BaseLayer.weight!.allclose(w0, rtol: 0, atol: 1e-6).Should().BeTrue();
        peft.Model.call(x).allclose(unmerged, rtol: 1e-5, atol: 1e-6).Should().BeTrue();
    }

    [Fact]
    public void A_Linear_typed_field_gets_the_method_by_a_hook_and_trains_saves_and_loads()
    {
        var x = randn(3, 4);
        manual_seed(7);
        var model = new TypedFieldModel();
        var baseOutput = model.call(x);
        var config = new GatedLoraConfig { TargetModules = ["proj"], R = R, LoraAlpha = Alpha };

        var peft = PeftModel.Create(model, config);

        peft.AdaptedModules.Should().ContainSingle().Which.Attachment.Should().Be(AdapterAttachment.Hook);
        model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue("gate 0");
        nn.functional.mse_loss(model.call(x), zeros(3, 4)).backward();
        Layers(peft)[0].Gate.grad!.abs().item<float>().Should().BeGreaterThan(0, "the hook's update is on the autograd path");

        SetGates(peft, 0.6);
        var layer = Layers(peft)[0];
        var proj = layer.BaseLayer;
        var other = model.named_children().Single(c => c.name == "other").module as nn.Module<Tensor, Tensor>;
        Tensor expected;
        using (no_grad())
        {
            var update = x.matmul(layer.LoraA.weight!.t()).matmul(layer.LoraB.weight!.t()) * (Math.Tanh(0.6) * Scaling);
            expected = other!.call(proj.forward(x) + update);
        }
        var output = model.call(x);
        output.allclose(expected, rtol: 1e-5, atol: 1e-5).Should().BeTrue();

        peft.Save(directory);
        SafeTensorsReader.ReadFile(Path.Combine(directory, PeftModel.WeightsFileName)).Names.Should().BeEquivalentTo(
            "base_model.model.proj.lora_A.weight", "base_model.model.proj.lora_B.weight", "base_model.model.proj.lora_gate.weight");
        manual_seed(7);
        var fresh = new TypedFieldModel();
        var loaded = PeftModel.Load(fresh, directory);
        loaded.AdaptedModules.Single().Attachment.Should().Be(AdapterAttachment.Hook);
        fresh.call(x).allclose(output, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void The_workflow_shown_in_the_docs_trains_saves_and_loads()
    {
        var x = randn(8, Dim);
        var y = randn(8, Classes);
        var model = BaseModel(8);
        var before = nn.functional.mse_loss(model.call(x), y).item<float>();

        // begin-snippet: gated-usage
        GatedLoraConfigFields.Register();   // once per process, before a GATED_LORA file is loaded
        var config = new GatedLoraConfig { TargetModules = ["q_proj", "v_proj", "fc1"], R = 2, LoraAlpha = 4 };
        var peft = PeftModel.Create(model, config);     // matches the layers, freezes the model, attaches the adapters
        var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-2);
        model.train();
        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            nn.functional.mse_loss(model.call(x), y).backward();
            optimizer.step();
        }
        peft.Save(directory);                           // adapter_config.json + adapter_model.safetensors
        var loaded = PeftModel.Load(BaseModel(8), directory);  // into a fresh copy of the base model
        // end-snippet

        model.eval();
        var after = model.call(x);
        nn.functional.mse_loss(after, y).item<float>().Should().BeLessThan(before);
        loaded.Model.call(x).allclose(after, rtol: 0, atol: 0).Should().BeTrue();
    }
}
