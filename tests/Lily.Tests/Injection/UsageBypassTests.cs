using Lily.Injection;
using Lily.Tests.Support.Bypass;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// A hooked layer run in each way a model may run it — call(), forward(), its weight used directly, twice,
/// on a transposed input, or not at all — with the root called through call() or forward(), training or
/// inference only. Each case has one expected outcome: works, reported at Save, or reported by the probe.
/// </summary>
public sealed class UsageBypassTests
{
    private static BypassModel Model(Usage usage) => new(new UsageBlock(BypassModel.Dim, usage));

    public static IEnumerable<object[]> Cases() =>
        from usage in Enum.GetValues<Usage>()
        from mode in new[] { AdapterAttachment.Auto, AdapterAttachment.Hook }
        from method in Methods
        select new object[] { usage, mode, method };

    // What Save (after training) and the probe must say about blocks.0.fc.
    private static readonly Dictionary<Usage, (bool SaveRefuses, ProbeOutcome Probe)> Expected = new()
    {
        [Usage.Call] = (false, ProbeOutcome.Applied),
        [Usage.Forward] = (true, ProbeOutcome.Bypassed),
        [Usage.Functional] = (true, ProbeOutcome.Bypassed),
        [Usage.Twice] = (false, ProbeOutcome.Applied),
        [Usage.Transposed] = (false, ProbeOutcome.Applied),
        [Usage.Skipped] = (true, ProbeOutcome.NotReached),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trained_through_root_call(Usage usage, AdapterAttachment mode, string method) => Check(usage, mode, method, rootCall: true, train: true);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trained_through_root_forward(Usage usage, AdapterAttachment mode, string method) => Check(usage, mode, method, rootCall: false, train: true);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Inference_only_through_root_call(Usage usage, AdapterAttachment mode, string method) => Check(usage, mode, method, rootCall: true, train: false);

    private static void Check(Usage usage, AdapterAttachment mode, string method, bool rootCall, bool train)
    {
        manual_seed(11);
        var model = Model(usage);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"), attachment: mode);
        peft.Sites.Should().OnlyContain(s => s.Attachment == AdapterAttachment.Hook, "both layers sit in fields typed Linear");
        GiveUpdates(peft);
        model.train(train);
        Func<Tensor> run = rootCall ? () => model.call(x) : () => model.forward(x);
        if (train) Backward(run);
        else using (no_grad()) run();

        var (refuses, probe) = Expected[usage];
        var save = () => SaveWrites(peft);
        if (refuses) save.Should().Throw<InvalidOperationException>().WithMessage("*blocks.0.fc (hooked): its adapter never took part*");
        else save.Should().NotThrow();
        var report = peft.ProbeAdapters(() => model.forward(x));
        OutcomeOf(report, "blocks.0.fc").Should().Be(probe);
        OutcomeOf(report, "blocks.1.good").Should().Be(ProbeOutcome.Applied);
        var verify = () => peft.VerifyAdaptersApplied(() => model.forward(x));
        if (probe == ProbeOutcome.Bypassed) verify.Should().Throw<InvalidOperationException>().WithMessage("*bypassed on blocks.0.fc*");
        else verify.Should().NotThrow("a layer the input does not reach is not a bypass");
    }

    public static IEnumerable<object[]> ReplaceableCases() =>
        from usage in Enum.GetValues<Usage>()
        from method in Methods
        select new object[] { usage, method };

    [Theory]
    [MemberData(nameof(ReplaceableCases))]
    public void A_layer_in_a_field_typed_module_is_replaced_unless_held_elsewhere(Usage usage, string method)
    {
        manual_seed(17);
        var model = new BypassModel(new UsageBlock(BypassModel.Dim, usage, replaceable: true));
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        var site = peft.Sites.Single(s => s.Path == "blocks.0.fc");
        // Functional use keeps a Linear reference to read the weight from: a second holder, so it is hooked.
        site.Attachment.Should().Be(usage == Usage.Functional ? AdapterAttachment.Hook : AdapterAttachment.Replace);
        GiveUpdates(peft);
        Backward(() => model.forward(x));

        // A replaced layer runs whichever way it is called, so only functional use bypasses it, and only skipping leaves it idle.
        var save = () => SaveWrites(peft);
        if (usage is Usage.Functional or Usage.Skipped) save.Should().Throw<InvalidOperationException>().WithMessage("*blocks.0.fc (*): its adapter never took part*");
        else save.Should().NotThrow();
        OutcomeOf(peft.ProbeAdapters(() => model.forward(x)), "blocks.0.fc").Should().Be(usage switch
        {
            Usage.Functional => ProbeOutcome.Bypassed,
            Usage.Skipped => ProbeOutcome.NotReached,
            _ => ProbeOutcome.Applied,
        });
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_transposed_input_gives_the_same_update_as_a_contiguous_one(string method)
    {
        manual_seed(12);
        var x = Input(BypassModel.Dim);
        var outputs = new[] { Usage.Call, Usage.Transposed }.Select(usage =>
        {
            manual_seed(13);
            var model = Model(usage);
            var peft = PeftModel.Create(model, Config(method, "fc", "good"));
            manual_seed(14);
            GiveUpdates(peft);
            return model.call(x).detach();
        }).ToList();
        outputs[1].allclose(outputs[0], atol: 1e-6).Should().BeTrue();
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_non_contiguous_layer_output_still_receives_the_update(string method)
    {
        // A hook of the user's, registered before injection, hands ours a transposed (non-contiguous) copy:
        // the update cannot be accumulated into a view of it, so it must come back as the new output.
        var outputs = new[] { false, true }.Select(transposeOutput =>
        {
            manual_seed(18);
            var model = Model(Usage.Call);
            var fc = (TorchSharp.Modules.Linear)model.named_modules().Single(m => m.name == "blocks.0.fc").module;
            if (transposeOutput) fc.register_forward_hook((_, _, o) => o.transpose(0, 1).contiguous().transpose(0, 1));
            var peft = PeftModel.Create(model, Config(method, "fc", "good"));
            manual_seed(19);
            GiveUpdates(peft);
            return model.call(Input(BypassModel.Dim)).detach();
        }).ToList();
        outputs[1].allclose(outputs[0], atol: 1e-6).Should().BeTrue();
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void Nothing_can_be_told_before_the_model_is_seen_to_run_but_the_probe_can(string method)
    {
        // The root is called through forward(), fc through forward(), no backward: no hook, no gradient,
        // no count. This is the limit of what Save can know; the probe is what tells.
        manual_seed(15);
        var model = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Forward));
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc"));
        using (no_grad()) model.forward(x);
        SaveWrites(peft).Should().BeTrue("no evidence says the model ran");
        var verify = () => peft.VerifyAdaptersApplied(() => model.forward(x));
        verify.Should().Throw<InvalidOperationException>().WithMessage("*bypassed on blocks.0.fc*");
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_train_path_through_call_and_an_eval_path_through_forward(string method)
    {
        manual_seed(16);
        var block = new UsageBlock(BypassModel.Dim, Usage.Call);
        var model = new BypassModel(block);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "fc", "good"));
        GiveUpdates(peft);
        Backward(() => model.call(x));
        SaveWrites(peft).Should().BeTrue("both adapters took part in training");

        block.Usage = Usage.Forward;
        model.eval();
        var verify = () => peft.VerifyAdaptersApplied(() => model.call(x));
        verify.Should().Throw<InvalidOperationException>().WithMessage("*bypassed on blocks.0.fc*");
    }
}
