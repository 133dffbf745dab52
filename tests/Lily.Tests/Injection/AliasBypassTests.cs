using Lily.Injection;
using Lily.Tests.Support.Bypass;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// Models that keep a second reference to a layer (a list, a delegate, a closure, a record, or a table
/// outside the model) and run the layer through it. A wrapper in the layer's field would never run.
/// Injection must see the references it can (and hook instead), and what it cannot see must be
/// reported when the model runs — never an adapter that is saved while doing nothing.
/// </summary>
public sealed class AliasBypassTests
{
    public static IEnumerable<object[]> Visible() =>
        from style in new[] { AliasStyle.List, AliasStyle.Delegate, AliasStyle.Closure, AliasStyle.Record, AliasStyle.Tuple }
        from method in Methods
        select new object[] { style, method };

    [Theory]
    [MemberData(nameof(Visible))]
    public void A_reference_in_the_models_fields_makes_Auto_hook_so_the_adapter_runs(AliasStyle style, string method)
    {
        manual_seed(1);
        var model = BypassModel.WithAlias(style, throughForward: false);
        var x = Input(BypassModel.Dim);
        var baseOutput = model.call(x).detach();
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        peft.Sites.Single(s => s.Path == "blocks.0.fc").Attachment.Should().Be(AdapterAttachment.Hook, "a wrapper in the field would not reach the other reference");
        GiveUpdates(peft);

        Backward(() => model.call(x));

        peft.Sites.Should().OnlyContain(s => s.Applications > 0);
        peft.VerifyAdaptersApplied();
        SaveWrites(peft).Should().BeTrue();
        var report = peft.VerifyAdaptersApplied(() => model.forward(x));
        report.Layers.Should().OnlyContain(l => l.Outcome == ProbeOutcome.Applied);
        using (peft.DisableAdapters()) model.call(x).allclose(baseOutput).Should().BeTrue();
        model.call(x).allclose(baseOutput, atol: 1e-4).Should().BeFalse("the adapter on blocks.0.fc changes the output");
    }

    [Theory]
    [MemberData(nameof(Visible))]
    public void Replace_is_refused_for_a_layer_held_elsewhere(AliasStyle style, string method)
    {
        var model = BypassModel.WithAlias(style, throughForward: false);
        var create = () => PeftModel.Create(model, Config(method, "fc"), attachment: AdapterAttachment.Replace);
        create.Should().Throw<ArgumentException>().WithMessage("*Cannot replace 'blocks.0.fc'*also holds it*Hook*");
        ModuleTree.CarriesAdapters(model).Should().BeFalse("a refused create leaves the model alone");
    }

    [Theory]
    [MemberData(nameof(Visible))]
    public void Forward_through_the_reference_is_reported_at_save_and_by_the_probe(AliasStyle style, string method)
    {
        manual_seed(2);
        var model = BypassModel.WithAlias(style, throughForward: true);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        GiveUpdates(peft);
        Backward(() => model.forward(x));   // the root's hooks do not fire either

        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage("*blocks.0.fc (hooked): its adapter never took part*")
            .Which.Message.Should().NotContain("blocks.1.good");
        OutcomeOf(peft.ProbeAdapters(() => model.forward(x)), "blocks.0.fc").Should().Be(ProbeOutcome.Bypassed);
        var verify = () => peft.VerifyAdaptersApplied(() => model.forward(x));
        verify.Should().Throw<InvalidOperationException>().WithMessage("*bypassed on blocks.0.fc (hook)*.call(x)*");
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_reference_outside_the_model_that_calls_the_original_is_counted_as_a_bypass(string method)
    {
        manual_seed(3);
        var model = BypassModel.WithAlias(AliasStyle.Hidden, throughForward: false);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        var site = peft.Sites.Single(s => s.Path == "blocks.0.fc");
        site.Attachment.Should().Be(AdapterAttachment.Replace, "no search of the model's fields finds a static table");
        GiveUpdates(peft);

        using (no_grad()) model.forward(x);    // inference only, root through forward(): no root hook, no gradient

        site.Applications.Should().Be(0);
        site.Bypasses.Should().Be(1, "the original's call() fired the watch hook");
        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage("*blocks.0.fc (replaced): the original Linear ran 1 time(s) through call() outside its adapter*");
        OutcomeOf(peft.ProbeAdapters(() => model.forward(x)), "blocks.0.fc").Should().Be(ProbeOutcome.Bypassed);
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_reference_outside_the_model_that_calls_forward_is_found_by_its_gradients_and_the_probe(string method)
    {
        manual_seed(4);
        var model = BypassModel.WithAlias(AliasStyle.Hidden, throughForward: true);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        var site = peft.Sites.Single(s => s.Path == "blocks.0.fc");
        GiveUpdates(peft);
        Backward(() => model.forward(x));

        site.Bypasses.Should().Be(0, "forward() fires no hook at all");
        var verify = () => peft.VerifyAdaptersApplied();
        verify.Should().Throw<InvalidOperationException>().WithMessage("*adapters of 1 layer(s) took part*blocks.0.fc (replaced): its adapter never took part*");
        OutcomeOf(peft.ProbeAdapters(() => model.forward(x)), "blocks.0.fc").Should().Be(ProbeOutcome.Bypassed);
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void Hooking_a_layer_held_outside_the_model_applies_the_adapter(string method)
    {
        manual_seed(5);
        var model = BypassModel.WithAlias(AliasStyle.Hidden, throughForward: false);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"), attachment: AdapterAttachment.Hook);
        GiveUpdates(peft);
        Backward(() => model.call(x));
        SaveWrites(peft).Should().BeTrue();
        peft.ProbeAdapters(() => model.forward(x)).Bypassed.Should().BeEmpty();
    }
}
