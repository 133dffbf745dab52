using Lily.Injection;
using Lily.Tests.Injection;
using Lily.Tests.Support.Bypass;
using Lily.Tuners;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, items 1, 2 and 4: a verdict speaks for the passes since the last one that passed, only the
/// update reaching the layer's output counts as taking part, and nothing about an adapter outlives it.
/// Every case runs for every method in both attachment modes, on <c>blocks.0.fc</c> of a model whose route
/// can change (the block may stop running it: one micro-batch size taking another route).
/// </summary>
public sealed class ParticipationEvidenceTests
{
    private const string Refusal = "*blocks.0.fc (*): its adapter never took part*";


    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void A_layer_bypassed_after_a_passed_verdict_is_reported_at_the_next(string method, AdapterAttachment mode)
    {
        var (model, block, peft, x) = Setup(method, mode);
        Backward(() => model.call(x));
        SaveWrites(peft).Should().BeTrue("the adapter took part in that pass");
        TakeTheOtherRouteThenSaveRefuses(model, block, peft, x);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void A_probe_says_nothing_about_the_training_passes_after_it(string method, AdapterAttachment mode)
    {
        var (model, block, peft, x) = Setup(method, mode);
        peft.VerifyAdaptersApplied(() => model.call(x)).Applied.Should().ContainSingle();
        TakeTheOtherRouteThenSaveRefuses(model, block, peft, x);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void A_merge_is_no_evidence_for_the_passes_after_it(string method, AdapterAttachment mode)
    {
        if (method == "lily") return;    // Lily cannot merge
        var (model, block, peft, x) = Setup(method, mode);
        peft.Merge();
        TakeTheOtherRouteThenSaveRefuses(model, block, peft, x);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void A_penalty_on_the_adapter_parameters_is_no_evidence(string method, AdapterAttachment mode)
    {
        var (model, block, peft, x) = Setup(method, mode);
        block.Usage = Usage.Skipped;
        using (var scope = NewDisposeScope())
        {
            // An L2 penalty written as a loss term: every trainable parameter gets a gradient, none from the output.
            var l2 = peft.TrainableParameters().Select(p => p.square().sum()).Aggregate((a, b) => a + b);
            (model.call(x).square().mean() + 1e-4 * l2).backward();
        }
        peft.TrainableParameters().All(p => p.grad is not null).Should().BeTrue();
        SaveRefuses(peft);
    }

    [Theory]
    [InlineData(AdapterAttachment.Hook)]
    [InlineData(AdapterAttachment.Replace)]
    public void CLoRAs_own_auxiliary_term_is_no_evidence(AdapterAttachment mode)
    {
        var block = new UsageBlock(BypassModel.Dim, Usage.Skipped, replaceable: mode == AdapterAttachment.Replace);
        var model = new BypassModel(block);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, new CLoraConfig { TargetModules = ["fc"], R = 2, NumBases = 2, SadeWeight = 0.1 }, attachment: mode);
        GiveUpdates(peft);
        using (var scope = NewDisposeScope()) (model.call(x).square().mean() + peft.AuxiliaryLoss()).backward();
        SaveRefuses(peft);
    }

    [Theory]
    [MemberData(nameof(BypassZoo.MethodsAndModes), MemberType = typeof(BypassZoo))]
    public void An_adapter_added_under_a_deleted_ones_name_inherits_nothing(string method, AdapterAttachment mode)
    {
        var (model, _, peft, x) = Setup(method, mode);
        peft.AddAdapter("b", Config(method, "fc"));
        peft.SetAdapter("b");
        using (no_grad()) model.call(x);
        peft.SetAdapter(PeftModel<BypassModel>.DefaultAdapterName);
        peft.DeleteAdapter("b");
        peft.AddAdapter("b", Config(method, "fc"));
        // The new 'b' has never been active, so no pass speaks against it.
        SaveWrites(peft).Should().BeTrue();
    }

    // The model switches to the route that skips blocks.0.fc and runs on it (no adapted layer runs there, so there
    // is nothing to backward through); Save must then refuse.
    private static void TakeTheOtherRouteThenSaveRefuses(BypassModel model, UsageBlock block, PeftModel<BypassModel> peft, Tensor x)
    {
        block.Usage = Usage.Skipped;
        using (no_grad())
        {
            model.call(x);
            model.call(x);
        }
        SaveRefuses(peft);
    }

    private static void SaveRefuses(PeftModel<BypassModel> peft)
    {
        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage(Refusal);
    }

    private static (BypassModel Model, UsageBlock Block, PeftModel<BypassModel> Peft, Tensor X) Setup(string method, AdapterAttachment mode)
    {
        manual_seed(23);
        var block = new UsageBlock(BypassModel.Dim, Usage.Call, replaceable: mode == AdapterAttachment.Replace);
        var model = new BypassModel(block);
        var peft = PeftModel.Create(model, Config(method, "fc"), attachment: mode);
        peft.Sites.Should().OnlyContain(s => s.Attachment == mode);
        GiveUpdates(peft);
        return (model, block, peft, Input(BypassModel.Dim));
    }
}
