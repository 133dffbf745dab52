using Lily.Injection;
using Lily.Tests.Injection;
using Lily.Tests.Support.Trust;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 5: layers that share one weight Parameter. The probe does not call a layer bypassed
/// because the shared weight was reached through the other one, and merging refuses to write ΔW into a
/// weight that another module (a tied head, another adapted layer) also uses.
/// </summary>
public sealed class SharedWeightTests
{

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void The_probe_does_not_call_a_layer_bypassed_through_its_twins_weight(string method, AdapterAttachment mode)
    {
        manual_seed(41);
        var model = new SharedWeightModel(tiedHead: false);
        var peft = PeftModel.Create(model, Config(method, "a", "b"), attachment: mode);
        GiveUpdates(peft);
        var x = Input(SharedWeightModel.Dim);
        var report = peft.ProbeAdapters(() => model.call(x));
        OutcomeOf(report, "a").Should().Be(ProbeOutcome.Applied);
        OutcomeOf(report, "b").Should().Be(ProbeOutcome.NotReached, "b did not run; its weight was reached through a");
        model.UseB = true;
        report = peft.ProbeAdapters(() => model.call(x));
        OutcomeOf(report, "b").Should().Be(ProbeOutcome.Applied);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void Merging_into_a_tied_weight_refuses_and_changes_nothing(string method, AdapterAttachment mode)
    {
        if (method == "lily") return;    // Lily cannot merge at all
        manual_seed(42);
        var model = new SharedWeightModel(tiedHead: true);
        var peft = PeftModel.Create(model, Config(method, "a"), attachment: mode);
        GiveUpdates(peft);
        var x = Input(SharedWeightModel.Dim);
        Tensor before;
        using (no_grad()) before = model.call(x);
        var merge = () => peft.Merge();
        merge.Should().Throw<NotSupportedException>().WithMessage("*'a'*head.weight*");
        peft.Sites.Should().OnlyContain(s => !s.ActiveLayer!.Merged);
        using (no_grad()) model.call(x).allclose(before, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void Merging_two_adapted_layers_that_share_a_weight_refuses(string method, AdapterAttachment mode)
    {
        if (method == "lily") return;
        var model = new SharedWeightModel(tiedHead: false);
        var peft = PeftModel.Create(model, Config(method, "a"), attachment: mode);
        peft.AddAdapter("other", Config(method, "b"), mode);
        peft.SetAdapter("other");
        var merge = () => peft.Merge();
        merge.Should().Throw<NotSupportedException>().WithMessage("*'b'*a*weight*");
    }
}
