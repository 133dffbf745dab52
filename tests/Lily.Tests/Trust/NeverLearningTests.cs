using Lily.Injection;
using Lily.Tests.Support.Trust;
using static Lily.Tests.Injection.BypassZoo;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 3: an update applied in every training pass whose parameters never get a gradient from
/// the loss (computed under no_grad, or detached downstream) trains nothing; Save after training says so,
/// naming the layers. Inference passes and a model that trains normally raise nothing.
/// </summary>
public sealed class NeverLearningTests
{
    public static TheoryData<string, AdapterAttachment, Cut> Cases()
    {
        var data = new TheoryData<string, AdapterAttachment, Cut>();
        foreach (var method in Methods)
            foreach (var mode in Modes)
                foreach (var cut in new[] { Cut.NoGrad, Cut.Detached })
                    data.Add(method, mode, cut);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void An_update_the_loss_never_reaches_is_reported_at_Save(string method, AdapterAttachment mode, Cut cut)
    {
        var (model, peft, x) = Setup(method, mode);
        model.Cut = cut;
        Backward(() => model.call(x));
        Backward(() => model.call(x));
        var save = () => SaveWrites(peft);
        save.Should().Throw<InvalidOperationException>().WithMessage("*never learns*  a (*): its update was applied, but no backward pass reached it*")
            .Which.Message.Should().NotContain("  b (");
    }

    [Theory]
    [MemberData(nameof(MethodsAndModes), MemberType = typeof(Injection.BypassZoo))]
    public void Training_that_reaches_every_layer_and_inference_passes_raise_nothing(string method, AdapterAttachment mode)
    {
        var (model, peft, x) = Setup(method, mode);
        Backward(() => model.call(x));
        using (no_grad()) model.call(x);    // an evaluation pass in between
        SaveWrites(peft).Should().BeTrue();
        using (no_grad()) model.call(x);    // inference only since the last verdict
        SaveWrites(peft).Should().BeTrue();
    }

    private static (DetachingModel Model, PeftModel<DetachingModel> Peft, Tensor X) Setup(string method, AdapterAttachment mode)
    {
        manual_seed(61);
        var model = new DetachingModel();
        var peft = PeftModel.Create(model, Config(method, "a", "b"), attachment: mode);
        GiveUpdates(peft);
        return (model, peft, Input(DetachingModel.Dim));
    }
}
