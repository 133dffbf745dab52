using Lily.Injection;
using Lily.Tests.Support.Bypass;
using Lily.Tests.Support.Zoo;
using Lily.Tests.Support;
using Microsoft.Extensions.Logging;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// The rest of the bypass zoo: a root with its own Run method, layers that legitimately sit out a pass
/// (mixture-of-experts), one Linear under two paths, loading for inference into a bypassing model, and
/// what the first forward pass logs.
/// </summary>
public sealed class ParticipationTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-participation-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [Theory]
    [InlineData("lora", AdapterAttachment.Auto)]
    [InlineData("lily", AdapterAttachment.Auto)]
    [InlineData("lora", AdapterAttachment.Hook)]
    [InlineData("lily", AdapterAttachment.Hook)]
    public void A_plain_module_root_with_its_own_run_method(string method, AdapterAttachment mode)
    {
        manual_seed(21);
        var model = new PlainRootModel(BypassModel.Dim);
        var x = Input(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "a", "b"), attachment: mode);
        GiveUpdates(peft);
        Backward(() => model.Run(x));

        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage("*b (hooked): its adapter never took part*").Which.Message.Should().NotContain(" a (hooked)");
        var report = peft.ProbeAdapters(() => model.Run(x));
        OutcomeOf(report, "a").Should().Be(ProbeOutcome.Applied);
        OutcomeOf(report, "b").Should().Be(ProbeOutcome.Bypassed);

        model.BThroughCall = true;
        Backward(() => model.Run(x));
        SaveWrites(peft).Should().BeTrue("b took part in the second backward pass");
    }

    private sealed class MoeModel : nn.Module<Tensor, Tensor>
    {
        private readonly MoeBlock moe;

        public MoeModel() : base(nameof(MoeModel))
        {
            moe = new MoeBlock(BypassModel.Dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => moe.call(x);
    }

    // Every token's first feature is ≥ 0, so every token goes to expert 0.
    private static Tensor ExpertZeroOnly() => randn(3, 4, BypassModel.Dim).index_put_(rand(3, 4) + 0.1, TensorIndex.Ellipsis, TensorIndex.Single(0));

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void An_expert_that_received_no_tokens_never_breaks_a_forward_pass_and_is_reported_only_when_asked(string method)
    {
        manual_seed(22);
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var model = new MoeModel();
        var peft = PeftModel.Create(model, Config(method, "experts.0", "experts.1"), factory);
        peft.Sites.Should().OnlyContain(s => s.Attachment == AdapterAttachment.Hook, "the experts are a ModuleList<Linear>");
        GiveUpdates(peft);
        var x = ExpertZeroOnly();

        for (int step = 0; step < 3; step++) Backward(() => model.call(x));   // no pass throws

        logs.Messages.Where(m => m.Contains("did not run through their adapter in the model's first forward pass")).Should().ContainSingle()
            .Which.Should().Contain("moe.experts.1").And.NotContain("moe.experts.0,");
        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage("*moe.experts.1 (hooked): its adapter never took part*no data reached the layer*exclude_modules*verifyApplied: false*");
        SaveWrites(peft, verifyApplied: false).Should().BeTrue();
        var report = peft.VerifyAdaptersApplied(() => model.call(x));
        OutcomeOf(report, "moe.experts.1").Should().Be(ProbeOutcome.NotReached, "no token reached it: not a bypass");

        // Once a batch reaches expert 1, it has taken part over the adapter's life.
        Backward(() => model.call(-ExpertZeroOnly()));
        SaveWrites(peft).Should().BeTrue();
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void A_linear_under_two_paths_is_hooked_and_adapted_wherever_it_runs(string method)
    {
        manual_seed(23);
        var model = new TwoPathModel(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config(method, "first.fc"));
        peft.Sites.Should().ContainSingle().Which.Attachment.Should().Be(AdapterAttachment.Hook);
        GiveUpdates(peft);
        var x = Input(BypassModel.Dim);
        model.call(x);
        peft.Sites[0].Applications.Should().Be(2, "the object runs at both paths, and so does its adapter");

        var replace = () => PeftModel.Create(new TwoPathModel(BypassModel.Dim), Config(method, "first.fc"), attachment: AdapterAttachment.Replace);
        replace.Should().Throw<ArgumentException>().WithMessage("*Cannot replace 'first.fc'*also registered at 'second.fc'*");
        var both = () => PeftModel.Create(new TwoPathModel(BypassModel.Dim), Config(method, "fc"));
        both.Should().Throw<ArgumentException>().WithMessage("*'first.fc' and 'second.fc' are the same Linear object*");
    }

    [Fact]
    public void The_update_of_a_linear_under_two_paths_equals_the_merged_weight_at_both_uses()
    {
        manual_seed(24);
        var model = new TwoPathModel(BypassModel.Dim);
        var peft = PeftModel.Create(model, Config("lora", "first.fc"));
        GiveUpdates(peft);
        var x = Input(BypassModel.Dim);
        var hooked = model.call(x).detach();
        peft.Merge();   // the update now lives in the one weight, used at both paths
        model.call(x).allclose(hooked, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("lily")]
    public void Loading_for_inference_into_a_bypassing_model_is_caught_by_the_probe(string method)
    {
        manual_seed(25);
        var trainedOn = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Call));
        var peft = PeftModel.Create(trainedOn, Config(method, "fc", "good"));
        GiveUpdates(peft);
        peft.Save(directory);

        manual_seed(25);
        var served = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Forward));
        var loaded = PeftModel.Load(served, directory);
        var x = Input(BypassModel.Dim);
        var verify = () => loaded.VerifyAdaptersApplied(() => served.forward(x));
        verify.Should().Throw<InvalidOperationException>().WithMessage("*bypassed on blocks.0.fc (hook)*");
    }

    [Fact]
    public void The_probe_changes_no_output_no_gradient_and_no_flag()
    {
        manual_seed(26);
        var model = Zoo.Create("ModuleField");
        var peft = PeftModel.Create(model, Config("lora", "q_proj", "v_proj"));
        GiveUpdates(peft);
        var x = randn(2, 3, Zoo.Dim);
        var before = model.call(x).detach();
        var frozen = model.parameters().Select(p => p.requires_grad).ToList();

        Tensor? seen = null;
        var report = peft.ProbeAdapters(() =>
        {
            var y = model.call(x);
            seen = y.detach().clone().DetachFromDisposeScope();   // the probe frees what the run made
            return y;
        });

        report.Applied.Should().HaveCount(4);
        seen!.allclose(before, rtol: 0, atol: 0).Should().BeTrue("the markers are zero");
        peft.TrainableParameters().Should().OnlyContain(p => ReferenceEquals(p.grad, null), "autograd.grad fills no .grad");
        model.parameters().Select(p => p.requires_grad).Should().Equal(frozen);
        peft.Sites.Should().OnlyContain(s => ReferenceEquals(s.ProbeMarker, null));
    }

    [Fact]
    public void The_probe_says_so_when_the_output_has_no_autograd_graph()
    {
        var model = Zoo.Create("LinearField");
        var peft = PeftModel.Create(model, Config("lora", "q_proj"));
        var x = randn(2, 3, Zoo.Dim);
        var probe = () => peft.ProbeAdapters(() => { using (no_grad()) return model.call(x); });
        probe.Should().Throw<InvalidOperationException>().WithMessage("*does not depend on any adapted layer*no_grad*");
        var disabled = () => { using (peft.DisableAdapters()) peft.ProbeAdapters(() => model.call(x)); };
        disabled.Should().Throw<InvalidOperationException>().WithMessage("*disabled*");
    }

    [Fact]
    public void Passes_inside_DisableAdapters_are_no_evidence_against_the_adapters()
    {
        var model = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Forward));
        var peft = PeftModel.Create(model, Config("lora", "fc"));
        using (peft.DisableAdapters()) model.call(Input(BypassModel.Dim));
        SaveWrites(peft).Should().BeTrue("the base model ran, not the adapter");
    }

    [Fact]
    public void A_mixed_adapter_batch_is_no_evidence_against_the_active_adapter()
    {
        manual_seed(27);
        var model = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Call));
        var peft = PeftModel.Create(model, Config("lora", "fc", "good"));
        peft.AddAdapter("b", Config("lora", "fc", "good"));
        model.eval();
        using (peft.UseAdapterPerSample(["b", "b", "b"])) model.call(Input(BypassModel.Dim));
        // The active adapter 'default' did not run in that pass, and must not be reported for it.
        peft.VerifyAdaptersApplied();
        var probe = () => { using (peft.UseAdapterPerSample(["b", "b", "b"])) peft.ProbeAdapters(() => model.call(Input(BypassModel.Dim))); };
        probe.Should().Throw<InvalidOperationException>().WithMessage("*mixed-adapter batch*");
    }

    [Fact]
    public void A_merge_is_no_evidence_that_the_passes_reached_the_adapter()
    {
        // Issue 24 item 1 (this test used to expect the opposite): the merged update is in the weight, which
        // functional.linear reads, so the output has it; but the adapter's own path never ran, and training
        // through this route would never reach its parameters. The verdict says so; the probe, which looks at
        // the output only, does not call it bypassed.
        var model = new BypassModel(new UsageBlock(BypassModel.Dim, Usage.Functional));
        var peft = PeftModel.Create(model, Config("lora", "fc", "good"));
        GiveUpdates(peft);
        peft.Merge();
        model.call(Input(BypassModel.Dim));
        var verify = () => peft.VerifyAdaptersApplied();
        verify.Should().Throw<InvalidOperationException>().WithMessage("*blocks.0.fc (hooked): its adapter never took part*");
        peft.ProbeAdapters(() => model.call(Input(BypassModel.Dim))).Bypassed.Should().BeEmpty();
    }
}
