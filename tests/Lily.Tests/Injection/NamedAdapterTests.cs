using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>PEFT's add_adapter / set_adapter / delete_adapter, with Lily sharing for every adapter.</summary>
public sealed class NamedAdapterTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-named-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    private static void Randomise<T>(PeftModel<T> peft) where T : nn.Module
    {
        foreach (var p in peft.TrainableParameters()) TensorData.Set(p, randn_like(p) * 0.3);
    }

    [Fact]
    public void A_second_Lily_adapter_gets_its_own_sharing_groups()
    {
        manual_seed(11);
        var model = new ToyModel(4, 6, 8, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        const int r = 3, stride = 2, experts = 2, layers = 4, d = 6;
        peft.AddAdapter("lily", new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = r, StrideA = stride, NumB = experts });

        peft.ActiveAdapter.Should().Be("default", "adding an adapter does not activate it");
        peft.AdapterNames.Should().Equal("default", "lily");
        peft.SetAdapter("lily");
        // Per target type: ceil(L/stride)·d_in·r + E·r·d_out + L·r·E — the formula holds for a later adapter too (PEFT's does not share there).
        long perType = (layers + stride - 1) / stride * d * r + experts * r * d + layers * r * experts;
        peft.GetParameterSummary().TrainableParameters.Should().Be(2 * perType);
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        lily.Where(l => ReferenceEquals(l.LilyB, lily[0].LilyB)).Should().HaveCount(layers, "all q_proj layers share one pool");
        lily.Select(l => l.LilyA).Distinct().Should().HaveCount(2 * layers / stride);
    }

    [Fact]
    public void Switching_adapters_switches_outputs_and_what_trains()
    {
        manual_seed(12);
        var model = new ToyModel(2, 6, 8, 3);
        var x = randn(2, 4, 6);
        var baseOutput = model.call(x).detach().clone();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        Randomise(peft);
        var first = model.call(x).detach().clone();
        peft.AddAdapter("second", new LilyConfig { TargetModules = ["v_proj", "fc1"], R = 2 });
        model.call(x).allclose(first, rtol: 0, atol: 0).Should().BeTrue("the new adapter is inactive");

        peft.SetAdapter("second");
        model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue("the second adapter starts as a no-op and the first is off");
        Randomise(peft);
        var second = model.call(x).detach().clone();
        second.allclose(baseOutput, atol: 1e-5).Should().BeFalse();
        peft.TrainableParameters().Should().OnlyContain(p => peft.AdaptedModules.Any(a => a.Layer.AdapterParameters().Contains(p)));

        peft.SetAdapter("default");
        model.call(x).allclose(first, rtol: 0, atol: 0).Should().BeTrue();
        using (peft.DisableAdapters()) model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue();

        peft.DeleteAdapter("default");
        peft.ActiveAdapter.Should().Be("second");
        model.call(x).allclose(second, rtol: 0, atol: 0).Should().BeTrue();
        model.named_modules().Should().NotContain(m => m.name.EndsWith(".lora_A", StringComparison.Ordinal), "the deleted adapter's modules are gone");
    }

    [Fact]
    public void Save_writes_other_adapters_in_subfolders_and_they_load_by_name()
    {
        manual_seed(13);
        var model = new ToyModel(2, 6, 8, 3);
        var x = randn(2, 4, 6);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2, ModulesToSave = ["head"] });
        Randomise(peft);
        peft.AddAdapter("other", new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = 2, ModulesToSave = ["head"] });
        peft.SetAdapter("other");
        Randomise(peft);
        var otherOutput = model.call(x).detach().clone();
        peft.SetAdapter("default");
        var defaultOutput = model.call(x).detach().clone();
        peft.Save(directory);

        File.Exists(Path.Combine(directory, "adapter_config.json")).Should().BeTrue();
        File.ReadAllText(Path.Combine(directory, "other", "adapter_config.json")).Should().Contain("\"LILY\"");

        manual_seed(13);
        var fresh = new ToyModel(2, 6, 8, 3);
        var loaded = PeftModel.Load(fresh, directory);
        loaded.LoadAdapter(Path.Combine(directory, "other"), "other");
        fresh.call(x).allclose(defaultOutput, rtol: 0, atol: 1e-6).Should().BeTrue();
        loaded.SetAdapter("other");
        fresh.call(x).allclose(otherOutput, rtol: 0, atol: 1e-6).Should().BeTrue("each adapter keeps its own trained head");
    }

    [Fact]
    public void Bad_names_and_unknown_adapters_are_errors()
    {
        var peft = PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj"] });
        var dotted = () => peft.AddAdapter("a.b", new LoraConfig { TargetModules = ["q_proj"] });
        dotted.Should().Throw<ArgumentException>().WithMessage("*'a.b'*");
        var twice = () => peft.AddAdapter("default", new LoraConfig { TargetModules = ["q_proj"] });
        twice.Should().Throw<ArgumentException>().WithMessage("*already*'default'*");
        var unknown = () => peft.SetAdapter("nope");
        unknown.Should().Throw<ArgumentException>().WithMessage("*'nope'*default*");
    }
}
