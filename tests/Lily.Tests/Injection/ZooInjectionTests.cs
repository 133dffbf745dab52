using Lily.Injection;
using Lily.Tests.Serialization;
using Lily.Tests.Support.Zoo;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// Every model style of the zoo, in both attachment modes (Auto: replace where the parent can hold the
/// wrapper, hook elsewhere; Hook: hooks everywhere): create, train one step, save, load into a fresh
/// copy, unload. Whatever the style and mode, the adapters must run, save, load and leave without a trace.
/// </summary>
public sealed class ZooInjectionTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-zoo-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    public static IEnumerable<object[]> Cases() =>
        from style in Zoo.All()
        from mode in new[] { AdapterAttachment.Auto, AdapterAttachment.Hook }
        from method in new[] { "lily", "lora" }
        select new object[] { style.Name, mode, method };

    // all-linear adapts every Linear but the last one, whatever the style calls its layers.
    private static PeftConfig Config(string method) => method == "lily"
        ? new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2, NumB = 2 }
        : new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, LoraAlpha = 4 };

    // The attachment Auto must choose: replace only where the parent's forward is known to read the new module.
    private static readonly Dictionary<string, Func<string, AdapterAttachment>> AutoChoice = new()
    {
        ["LinearField"] = _ => AdapterAttachment.Hook,
        ["ModuleField"] = _ => AdapterAttachment.Replace,
        ["ModuleList"] = _ => AdapterAttachment.Replace,
        ["ModuleListSubclass"] = _ => AdapterAttachment.Hook,
        ["SequentialPositional"] = _ => AdapterAttachment.Replace,
        ["SequentialNamed"] = _ => AdapterAttachment.Replace,
        // attn is ModuleDict<Module<Tensor, Tensor>>, mlp is ModuleDict<Linear>.
        ["ModuleDict"] = path => path.Contains(".attn.") ? AdapterAttachment.Replace : AdapterAttachment.Hook,
        ["ListOfLinear"] = _ => AdapterAttachment.Hook,
        ["LlamaStyle"] = _ => AdapterAttachment.Hook,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Create_train_save_load_unload(string style, AdapterAttachment mode, string method)
    {
        manual_seed(7);
        var model = Zoo.Create(style);
        var original = ModelSnapshot.Of(model);
        var x = randn(3, 5, Zoo.InputDim(style));
        var baseOutput = model.call(x).detach().clone();

        var peft = PeftModel.Create(model, Config(method), attachment: mode);
        var linears = ModuleTree.Walk(model).Where(n => n.Parent is not null && TargetSelector.LinearOf(n) is not null).Select(n => n.Path).ToList();
        peft.AdaptedModules.Select(a => a.Path).Should().Equal(linears.Take(linears.Count - 1), "all-linear adapts every Linear but the output layer");
        foreach (var a in peft.AdaptedModules)
            a.Attachment.Should().Be(mode == AdapterAttachment.Hook ? AdapterAttachment.Hook : AutoChoice[style](a.Path), a.Path);
        model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue("a fresh adapter (B = 0) is a no-op");

        // Give every adapter a non-zero update, then one training step.
        foreach (var p in peft.TrainableParameters()) TensorData.Set(p, randn_like(p) * 0.3);
        using var optimizer = optim.AdamW(peft.TrainableParameters(), lr: 1e-2);
        var output = model.call(x);
        output.allclose(baseOutput, atol: 1e-4).Should().BeFalse("the adapters are on the forward path");
        output.square().mean().backward();
        peft.TrainableParameters().Should().OnlyContain(p => !ReferenceEquals(p.grad, null), "every adapter ran, so every adapter tensor has a gradient");
        optimizer.step();
        peft.Sites.Should().OnlyContain(s => s.Applications > 0);

        var trained = model.call(x).detach().clone();
        peft.Save(directory);

        manual_seed(7);
        var fresh = Zoo.Create(style);
        var loaded = PeftModel.Load(fresh, directory, attachment: mode);
        loaded.AdaptedModules.Select(a => (a.Path, a.Attachment)).Should().Equal(peft.AdaptedModules.Select(a => (a.Path, a.Attachment)));
        fresh.call(x).allclose(trained, rtol: 0, atol: 1e-6).Should().BeTrue("the loaded adapter computes what was saved");

        peft.Unload();
        ModelSnapshot.Of(model).ShouldEqual(original);
        model.named_modules().Should().NotContain(m => m.module is IAdapterInternal, "no wrapper, container or follower is left");
        model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue("no hook is left: the model computes exactly what it did");
    }
}
