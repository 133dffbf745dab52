using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

public class InjectionTests
{
    [Fact]
    public void Adapters_land_inside_ModuleList_and_Sequential_and_are_used_by_forward()
    {
        manual_seed(1);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "fc2"], R = 2 });

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        modules["layers.0.q_proj"].Should().BeOfType<TunerLinear>();
        modules["layers.1.mlp.fc2"].Should().BeOfType<TunerLinear>();
        modules["layers.1.mlp.fc1"].Should().BeOfType<Linear>();
        modules["layers.0.k_proj"].Should().BeOfType<Linear>();
        modules["layers.0.q_proj.base_layer"].Should().BeOfType<Linear>();
        modules["layers.0.q_proj.lily_A.default"].Should().BeOfType<Linear>("adapter modules sit at PEFT's in-memory paths");
        peft.AdaptedModules.Select(a => a.Path).Should().Equal("layers.0.q_proj", "layers.0.mlp.fc2", "layers.1.q_proj", "layers.1.mlp.fc2");
        peft.AdaptedModules.Should().OnlyContain(a => a.Attachment == AdapterAttachment.Replace);
        var layers = peft.AdaptedModules.ToDictionary(a => a.Path, a => (LilyLinear)a.Layer);

        // Forward goes through the adapters: a non-zero B (in the Sequential) changes the output.
        var x = randn(2, 3, 6);
        var before = model.call(x);
        var fc2 = layers["layers.1.mlp.fc2"];
        TensorData.Set(fc2.LilyB.Weight, randn_like(fc2.LilyB.Weight));
        model.call(x).allclose(before).Should().BeFalse("the adapter inside the Sequential is on the forward path");
        var q = layers["layers.0.q_proj"];
        TensorData.Set(q.LilyB.Weight, randn_like(q.LilyB.Weight));
        var after = model.call(x);
        after.allclose(before).Should().BeFalse();
    }

    [Fact]
    public void Registration_order_and_names_are_kept()
    {
        var model = new ToyModel(2, 6, 8, 3);
        var before = model.named_modules().Select(m => m.name).ToList();
        PeftModel.Create(model, new LoraConfig { TargetModules = ["k_proj", "fc1"], R = 2 });
        var after = model.named_modules().Select(m => m.name).Where(n => !n.Contains(".lora_") && !n.Contains(".base_layer")).ToList();
        after.Should().Equal(before);
    }

    [Fact]
    public void Every_base_parameter_is_frozen_and_only_adapters_train()
    {
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        trainable.Should().OnlyContain(n => n.Contains(".lora_A.") || n.Contains(".lora_B."));
        trainable.Should().HaveCount(4);
        peft.TrainableParameters().Should().HaveCount(4);
    }

    [Fact]
    public void No_match_lists_the_linear_layers_that_exist()
    {
        var model = new ToyModel(1, 4, 8, 2);
        var act = () => PeftModel.Create(model, new LilyConfig { TargetModules = ["query"] });
        act.Should().Throw<ArgumentException>()
            .WithMessage("*matches target modules [query]*layers.0.q_proj, layers.0.k_proj, layers.0.v_proj, layers.0.mlp.fc1, layers.0.mlp.fc2, head*");
        model.parameters().Should().OnlyContain(p => p.requires_grad);
    }

    [Fact]
    public void Matching_follows_peft_exact_suffix_and_regex_rules()
    {
        var suffix = PeftModel.Create(new ToyModel(2, 4, 8, 2), new LoraConfig { TargetModules = ["mlp.fc1", "head"] });
        suffix.AdaptedModules.Select(a => a.Path).Should().Equal("layers.0.mlp.fc1", "layers.1.mlp.fc1", "head");

        // "proj" is no suffix after a dot of "q_proj": PEFT does not match partial names.
        var partial = () => PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModules = ["proj"] });
        partial.Should().Throw<ArgumentException>();

        var regex = PeftModel.Create(new ToyModel(3, 4, 8, 2), new LoraConfig { TargetModulesRegex = @"layers\.[02]\.(q|v)_proj" });
        regex.AdaptedModules.Select(a => a.Path).Should().Equal("layers.0.q_proj", "layers.0.v_proj", "layers.2.q_proj", "layers.2.v_proj");

        // A regex must match the whole path, not a part of it.
        var part = () => PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModulesRegex = "q_proj" });
        part.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Non_linear_target_is_rejected_by_name()
    {
        var act = () => PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModules = ["mlp"] });
        act.Should().Throw<ArgumentException>().WithMessage("*'layers.0.mlp' is a Sequential*only Linear*");
    }

    [Fact]
    public void Replacing_a_field_typed_Linear_gives_a_clear_error_and_leaves_the_model_unchanged()
    {
        var model = new TypedFieldModel();
        var act = () => PeftModel.Create(model, new LoraConfig { TargetModules = ["proj", "other"] }, attachment: AdapterAttachment.Replace);
        act.Should().Throw<ArgumentException>().WithMessage("*'proj'*field 'proj'*declared as Linear*Module<Tensor, Tensor>*");
        model.named_modules().Select(m => m.module).Should().NotContain(m => m is IAdapterInternal);
        model.named_parameters().Select(p => p.name).Should().Equal("proj.weight", "proj.bias", "other.weight", "other.bias");
        model.parameters().Should().OnlyContain(p => p.requires_grad);
    }

    [Fact]
    public void A_model_cannot_be_adapted_twice()
    {
        var model = new ToyModel(1, 4, 8, 2);
        PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"] });
        var act = () => PeftModel.Create(model, new LoraConfig { TargetModules = ["k_proj"] });
        act.Should().Throw<ArgumentException>().WithMessage("*already carries adapters*");
    }

    [Fact]
    public void Modules_to_save_stay_trainable()
    {
        var model = new ToyModel(2, 4, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj"], R = 2, ModulesToSave = ["head"] });
        peft.ModulesToSavePaths.Should().Equal("head");
        model.named_parameters().Where(p => p.name.StartsWith("head.")).Should().OnlyContain(p => p.parameter.requires_grad);
        peft.GetParameterSummary().TrainableParameters.Should().Be((2 * 4 + 2 * 2 * 4 + 2 * 2 * 2) + (4 * 3 + 3) + 2 * 4);
    }

    [Fact]
    public void Disable_scope_gives_the_base_output_and_restores_on_dispose()
    {
        manual_seed(2);
        var model = new ToyModel(2, 6, 8, 3);
        var x = randn(2, 6);
        var baseOut = model.call(x);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2 });
        foreach (var a in peft.AdaptedModules) TensorData.Set(((LilyLinear)a.Layer).LilyB.Weight, randn_like(((LilyLinear)a.Layer).LilyB.Weight));
        var adapted = model.call(x);
        adapted.allclose(baseOut).Should().BeFalse();

        using (peft.DisableAdapters())
            model.call(x).allclose(baseOut, rtol: 0, atol: 0).Should().BeTrue();
        model.call(x).allclose(adapted, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Unload_restores_module_types_and_trainability()
    {
        manual_seed(3);
        var model = new ToyModel(2, 6, 8, 3);
        var types = model.named_modules().Select(m => (m.name, m.module.GetType())).ToList();
        var x = randn(2, 6);
        var baseOut = model.call(x);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "fc1", "head"], R = 2 });
        foreach (var a in peft.AdaptedModules) TensorData.Set(((LoraLinear)a.Layer).LoraB.weight!, randn_like(((LoraLinear)a.Layer).LoraB.weight!));

        peft.Unload().Should().BeSameAs(model);

        model.named_modules().Select(m => (m.name, m.module.GetType())).Should().Equal(types);
        model.parameters().Should().OnlyContain(p => p.requires_grad);
        model.call(x).allclose(baseOut, rtol: 0, atol: 0).Should().BeTrue();
        var again = () => peft.DisableAdapters();
        again.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Injection_is_logged_once_with_shared_parts()
    {
        using var provider = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Trace));
        var model = new ToyModel(4, 6, 8, 3);
        PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = 2, StrideA = 2 }, factory);

        provider.Messages.Should().Contain(m => m.StartsWith("Adapter 'default': LILY on 8 layers"));
        provider.Messages.Should().Contain(m => m.Contains("target type q_proj") && m.Contains("4 layers, 2 shared A (stride 2), 1 pool of 2 B experts, 4 routers"));
        provider.Messages.Should().Contain(m => m.StartsWith("trainable params:"));
        int logged = provider.Messages.Count;
        model.call(randn(1, 6));
        provider.Messages.Should().HaveCount(logged, "nothing is logged in forward");
    }
}
