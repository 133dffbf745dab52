using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// A site keeps its active adapter's layer and application count at hand instead of looking them up by
/// name on every forward pass; these pin that the cache follows every change of the active adapter or of
/// the adapters, so the update applied and the participation evidence stay those of the adapter in force.
/// </summary>
public sealed class ActiveAdapterCacheTests
{
    private static LoraConfig Lora() => new() { TargetModules = ["q_proj"], R = 2 };

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void The_active_layer_and_its_evidence_follow_switching_deleting_and_re_adding(AdapterAttachment mode)
    {
        manual_seed(31);
        var model = new ToyModel(2, 6, 8, 3);
        var x = randn(2, 4, 6);
        var peft = PeftModel.Create(model, Lora(), attachment: mode);
        peft.AddAdapter("second", Lora(), mode);
        var site = peft.Sites[0];
        void Run()
        {
            using var scope = NewDisposeScope();
            using (no_grad()) model.call(x);
        }

        site.ActiveLayer.Should().BeSameAs(site.Adapters["default"]);
        peft.SetAdapter("second");
        site.ActiveLayer.Should().BeSameAs(site.Adapters["second"]);
        Run();
        site.Applied("second").Should().BeTrue();
        site.Applied("default").Should().BeFalse("only the active adapter's count moves");

        peft.DeleteAdapter("second");
        site.ActiveLayer.Should().BeSameAs(site.Adapters["default"], "deleting the active adapter activates the first remaining one");
        site.Applied("default").Should().BeFalse();
        Run();
        site.Applied("default").Should().BeTrue();

        peft.AddAdapter("second", Lora(), mode);
        peft.SetAdapter("second");
        site.ActiveLayer.Should().BeSameAs(site.Adapters["second"], "the new layer, not the deleted one");
        site.Applied("second").Should().BeFalse("a re-added adapter starts with no evidence");
        peft.DeleteAdapter("default");
        site.ActiveLayer.Should().BeSameAs(site.Adapters["second"], "deleting another adapter leaves the active one in force");
        Run();
        site.Applied("second").Should().BeTrue();
    }

    [Fact]
    public void The_update_applied_is_the_active_adapters_after_a_switch()
    {
        manual_seed(32);
        var model = new ToyModel(1, 6, 8, 3);
        var x = randn(2, 4, 6);
        var peft = PeftModel.Create(model, Lora());
        peft.AddAdapter("second", Lora());
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.Contains("lora_B", StringComparison.Ordinal)) p.copy_(randn_like(p));
        var site = peft.Sites[0];
        Tensor Output()
        {
            using (no_grad()) return model.call(x).detach().clone();
        }

        var withDefault = Output();
        peft.SetAdapter("second");
        var withSecond = Output();
        withSecond.allclose(withDefault, atol: 1e-5).Should().BeFalse("the two adapters differ");
        peft.SetAdapter("default");
        Output().allclose(withDefault, rtol: 0, atol: 0).Should().BeTrue();
        site.ActiveLayer.Should().BeSameAs(site.Adapters["default"]);
    }
}
