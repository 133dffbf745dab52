using Lily.Analysis;
using Lily.Deploy;
using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Deploy;

public class RoutingCalibrationTests
{
    private static (ParallelLinears Model, PeftModel<ParallelLinears> Peft) Parallel(int seed)
    {
        manual_seed(seed);
        var model = new ParallelLinears(3, 5, 4);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["0", "1", "2"], R = 2, NumB = 3 });
        foreach (var a in peft.AdaptedModules)
            TensorData.Set(((LilyLinear)a.Layer).Router.weight!, randn(3, 2) * 3);
        return (model, peft);
    }

    [Fact]
    public void Calibrated_mixture_is_the_mean_over_all_tokens_of_the_dataset()
    {
        // Every layer of ParallelLinears sees the model's input, so each layer's mean over the dataset
        // is its batch-mean routing of all tokens put together (batches of different sizes weigh by tokens).
        var (_, peft) = Parallel(1);
        var batches = new[] { randn(2, 3, 5), randn(7, 5), randn(1, 1, 5) };
        var all = cat(batches.Select(b => b.reshape(-1, 5)).ToList(), 0);

        var mixtures = peft.CalibrateRouting(batches);
        var statistics = peft.CollectRouting(batches);

        mixtures.Keys.Should().Equal(peft.AdaptedModules.Select(a => a.Path));
        foreach (var a in peft.AdaptedModules)
        {
            var expected = TensorData.ToDoubles(((LilyLinear)a.Layer).MeanRoutingWeights(all));
            mixtures[a.Path].Should().Equal(expected, (x, y) => Math.Abs(x - y) < 1e-6);
            statistics[a.Path].TokenCount.Should().Be(14);
        }
        mixtures.Values.Select(m => m[0]).Distinct().Should().HaveCount(3, "the routers differ, so must the mixtures");
    }

    [Fact]
    public void Observers_are_removed_after_calibration_even_when_the_model_throws()
    {
        var (_, peft) = Parallel(2);
        Action wrongShape = () => peft.CalibrateRouting([randn(2, 5), randn(2, 4)]);
        wrongShape.Should().Throw<Exception>();
        peft.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).RoutingObserver == null);

        peft.CalibrateRouting([randn(2, 5)]);
        peft.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).RoutingObserver == null);
    }

    [Fact]
    public void Calibration_reports_layers_that_saw_no_token()
    {
        var (_, peft) = Parallel(3);
        Action none = () => peft.CalibrateRouting([]);
        none.Should().Throw<InvalidOperationException>().WithMessage("*No token reached*");

        using (peft.DisableAdapters())
        {
            Action disabled = () => peft.CalibrateRouting([randn(2, 5)]);
            disabled.Should().Throw<InvalidOperationException>().WithMessage("*disabled*");
        }
    }

    [Fact]
    public void Any_model_signature_calibrates_through_a_run_delegate()
    {
        var (model, peft) = Parallel(4);
        var x = randn(3, 5);
        var viaDelegate = peft.CalibrateRouting([(Scale: 2.0, Input: x)], (m, batch) => m.call(batch.Input * batch.Scale));
        var direct = peft.CalibrateRouting([x * 2.0]);
        foreach (var (path, mixture) in direct) viaDelegate[path].Should().Equal(mixture);
    }

    [Fact]
    public void Calibrating_a_LoRA_adapter_is_refused()
    {
        var peft = DeployModels.Lora(5);
        Action calibrate = () => peft.CalibrateRouting([randn(2, DeployModels.Dim)]);
        calibrate.Should().Throw<InvalidOperationException>().WithMessage("*no routed layers*");
    }

    [Fact]
    public void Hooked_layers_are_observed_too()
    {
        manual_seed(6);
        var model = new TypedFieldModel();
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["proj"], R = 2, NumB = 2 });
        peft.Sites.Single().Attachment.Should().Be(AdapterAttachment.Hook);
        var x = randn(5, 4);

        var statistics = peft.CollectRouting([x]);

        statistics.Single().Value.TokenCount.Should().Be(5);
        var layer = (LilyLinear)peft.AdaptedModules.Single().Layer;
        statistics.Single().Value.MeanMixture.Should().Equal(TensorData.ToDoubles(layer.MeanRoutingWeights(x)), (a, b) => Math.Abs(a - b) < 1e-6);
    }
}
