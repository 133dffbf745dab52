using Lily.Tests.Support.Zoo;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// A hooked adapter whose parent calls the layer's forward() directly never runs. It must never be
/// silently inert: the first forward pass through call() and any Save report it, naming the layer.
/// </summary>
public sealed class InertAdapterTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-inert-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void The_first_forward_pass_names_the_layers_whose_hooks_never_fire()
    {
        manual_seed(3);
        var model = Zoo.CreateDirectForward();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2 });
        peft.AdaptedModules.Should().OnlyContain(a => a.Attachment == AdapterAttachment.Hook);

        var forward = () => model.call(randn(2, 3, Zoo.Dim));
        forward.Should().Throw<InvalidOperationException>()
            .WithMessage("*layers.0.q_proj, layers.1.q_proj*not applied*forward() directly*.call(x)*Module<Tensor, Tensor>*")
            .Which.Message.Should().NotContain("v_proj", "v_proj is called through call() and its adapter runs");
    }

    [Fact]
    public void Save_refuses_to_write_an_adapter_that_never_ran()
    {
        manual_seed(3);
        var model = Zoo.CreateDirectForward();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2 });
        // The user's loop calls forward() on the root, which fires no root hook: the guard cannot see it.
        var loss = model.forward(randn(2, 3, Zoo.Dim)).sum();
        loss.backward();

        var save = () => peft.Save(directory);
        save.Should().Throw<InvalidOperationException>().WithMessage("*layers.0.q_proj, layers.1.q_proj*although the model has run*");
        Directory.Exists(directory).Should().BeFalse("nothing is written");
        var verify = () => peft.VerifyAdaptersApplied();
        verify.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Layers_called_through_call_pass_the_check_and_the_guard_goes_away()
    {
        manual_seed(3);
        var model = Zoo.Create("LinearField");
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2 });
        peft.AdaptedModules.Should().OnlyContain(a => a.Attachment == AdapterAttachment.Hook);
        model.call(randn(2, 3, Zoo.Dim));
        model.call(randn(2, 3, Zoo.Dim));
        peft.Sites.Should().OnlyContain(s => s.Applications == 2);
        peft.VerifyAdaptersApplied();
        peft.Save(directory);
        File.Exists(Path.Combine(directory, PeftModel.WeightsFileName)).Should().BeTrue();
    }

    [Fact]
    public void Replaced_layers_run_even_when_the_parent_calls_forward()
    {
        // Replacement does not depend on hooks: the wrapper's forward is the layer's forward.
        manual_seed(3);
        var model = Zoo.Create("ModuleField");
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        peft.AdaptedModules.Should().OnlyContain(a => a.Attachment == AdapterAttachment.Replace);
        model.forward(randn(2, 3, Zoo.Dim));
        peft.Sites.Should().OnlyContain(s => s.Applications == 1);
    }

    [Fact]
    public void An_adapter_added_after_a_clean_pass_is_guarded_too()
    {
        manual_seed(3);
        var model = Zoo.CreateDirectForward();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["v_proj"], R = 2 });
        model.call(randn(2, 3, Zoo.Dim));    // v_proj is called through call(): a clean pass
        peft.AddAdapter("q", new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        var forward = () => model.call(randn(2, 3, Zoo.Dim));
        forward.Should().Throw<InvalidOperationException>().WithMessage("*layers.0.q_proj, layers.1.q_proj*");
    }
}
