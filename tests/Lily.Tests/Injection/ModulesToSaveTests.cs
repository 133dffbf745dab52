using Lily.Tests.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>PEFT's ModulesToSaveWrapper semantics: the trained copy lives beside the original.</summary>
public sealed class ModulesToSaveTests
{
    private static (ToyModel Model, PeftModel<ToyModel> Peft, Tensor X, Tensor Base, Tensor Trained) Trained()
    {
        manual_seed(21);
        var model = new ToyModel(2, 6, 8, 3);
        var x = randn(2, 4, 6);
        var baseOutput = model.call(x).detach().clone();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2, ModulesToSave = ["head"] });
        foreach (var p in peft.TrainableParameters()) TensorData.Set(p, p + randn_like(p) * 0.3);
        return (model, peft, x, baseOutput, model.call(x).detach().clone());
    }

    [Fact]
    public void Disabling_adapters_runs_the_original_module()
    {
        var (model, peft, x, baseOutput, trained) = Trained();
        using (peft.DisableAdapters())
            model.call(x).allclose(baseOutput, rtol: 0, atol: 0).Should().BeTrue("the original head, not the trained copy, runs");
        model.call(x).allclose(trained, rtol: 0, atol: 0).Should().BeTrue("the trained copy is back");
    }

    [Fact]
    public void Unload_puts_the_original_back_and_MergeAndUnload_keeps_the_trained_copy()
    {
        manual_seed(21);
        var original = ModelSnapshot.Of(new ToyModel(2, 6, 8, 3));
        var (model, peft, x, baseOutput, trained) = Trained();
        peft.Unload();
        ModelSnapshot.Of(model).ShouldEqual(original);

        var (model2, peft2, _, _, trained2) = Trained();
        peft2.MergeAndUnload();
        model2.call(x).allclose(trained2, atol: 1e-5).Should().BeTrue("merged LoRA plus the trained head");
        model2.named_parameters().Should().OnlyContain(p => p.parameter.requires_grad, "requires_grad is as before injection");
        _ = baseOutput;
        _ = trained;
    }

    [Fact]
    public void Nested_entries_are_rejected_at_create()
    {
        var model = new ToyModel(1, 4, 8, 2);
        var before = ModelSnapshot.Of(model);
        var act = () => PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], ModulesToSave = ["layers.0", "mlp"] });
        act.Should().Throw<ArgumentException>().WithMessage("*'layers.0'*'layers.0.mlp'*nested*");
        ModelSnapshot.Of(model).ShouldEqual(before);
    }
}
