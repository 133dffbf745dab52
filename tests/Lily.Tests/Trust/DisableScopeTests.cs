using Lily.Injection;
using Lily.Tests.Injection;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, items 6 and 7: <c>DisableAdapters()</c> scopes nest and may be disposed in any order, cover
/// adapters added inside them, and give the base output even when the adapters are merged.
/// </summary>
public sealed class DisableScopeTests
{

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void Scopes_disposed_out_of_order_restore_the_adapters_when_the_last_one_closes(string method, AdapterAttachment mode)
    {
        using var scope = NewDisposeScope();
        var (model, peft, x, baseOut, adapted) = Setup(method, mode);
        var outer = peft.DisableAdapters();
        var inner = peft.DisableAdapters();
        outer.Dispose();
        Same(Run(model, x), baseOut).Should().BeTrue("a scope is still open");
        inner.Dispose();
        Same(Run(model, x), adapted).Should().BeTrue("every scope is closed");
        outer.Dispose();    // a second dispose changes nothing
        Same(Run(model, x), adapted).Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void An_adapter_added_inside_a_scope_is_off_inside_it_and_on_after_it(string method, AdapterAttachment mode)
    {
        using var scope = NewDisposeScope();
        var (model, peft, x, baseOut, _) = Setup(method, mode);
        Tensor adaptedByOther;
        using (peft.DisableAdapters())
        {
            peft.AddAdapter("other", BypassZoo.Config(method, "fc1", "fc2"), mode);
            peft.SetAdapter("other");
            BypassZoo.GiveUpdates(peft);
            Same(Run(model, x), baseOut).Should().BeTrue("the scope covers adapters added inside it");
        }
        adaptedByOther = Run(model, x);
        Same(adaptedByOther, baseOut).Should().BeFalse("the new adapter runs after the scope");
        peft.Sites.Should().OnlyContain(s => !s.Disabled);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void Merged_adapters_give_the_base_output_inside_a_scope(string method, AdapterAttachment mode)
    {
        if (method == "lily") return;    // Lily cannot merge
        using var scope = NewDisposeScope();
        var (model, peft, x, baseOut, adapted) = Setup(method, mode);
        peft.Merge();
        using (peft.DisableAdapters())
        {
            Same(Run(model, x), baseOut).Should().BeTrue("disabled means the base model, merged or not");
            var merge = () => peft.Merge();
            merge.Should().Throw<InvalidOperationException>().WithMessage("*DisableAdapters*");
        }
        Same(Run(model, x), adapted).Should().BeTrue("the adapter still runs after the scope (unmerged, as PEFT leaves it)");
    }

    private static (PeftFixtureNet Model, PeftModel<PeftFixtureNet> Peft, Tensor X, Tensor BaseOut, Tensor Adapted) Setup(string method, AdapterAttachment mode)
    {
        manual_seed(3);
        // float64, so merging and unmerging round far below the tolerance.
        var model = new PeftFixtureNet();
        model.to(ScalarType.Float64);
        var x = randn(2, 3, PeftFixtureNet.Dim, dtype: ScalarType.Float64);
        var baseOut = Run(model, x);
        var peft = PeftModel.Create(model, BypassZoo.Config(method, "q_proj", "v_proj"), attachment: mode);
        BypassZoo.GiveUpdates(peft);
        var adapted = Run(model, x);
        Same(adapted, baseOut).Should().BeFalse("the adapter changes the output");
        return (model, peft, x, baseOut, adapted);
    }

    private static Tensor Run(PeftFixtureNet model, Tensor x)
    {
        using (no_grad()) return model.call(x);
    }

    private static bool Same(Tensor a, Tensor b) => (a - b).abs().max().item<double>() < 1e-10;
}
