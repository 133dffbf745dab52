using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class LoraTests
{
    private static (ToyModel Model, PeftModel<ToyModel> Peft) Adapted(LoraConfig config, int seed)
    {
        manual_seed(seed);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, config);
        foreach (var a in peft.AdaptedModules)
            TensorData.Set(((LoraLinear)a.Layer).LoraB.weight!, randn_like(((LoraLinear)a.Layer).LoraB.weight!));
        return (model, peft);
    }

    [Fact]
    public void Update_is_scaling_times_B_A_x()
    {
        var (model, peft) = Adapted(new LoraConfig { TargetModules = ["head"], R = 3, LoraAlpha = 12 }, 1);
        var lora = (LoraLinear)peft.AdaptedModules.Single().Layer;
        lora.Scaling.Should().Be(4);
        var x = randn(5, 6);
        var expected = nn.functional.linear(x, lora.BaseLayer.weight!, lora.BaseLayer.bias)
                       + 4 * x.matmul(lora.LoraA.weight!.t()).matmul(lora.LoraB.weight!.t());
        lora.call(x).allclose(expected, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void RsLora_scales_by_alpha_over_sqrt_r()
    {
        var (_, peft) = Adapted(new LoraConfig { TargetModules = ["head"], R = 4, LoraAlpha = 6, UseRsLora = true }, 2);
        ((LoraLinear)peft.AdaptedModules.Single().Layer).Scaling.Should().Be(3);
    }

    [Fact]
    public void Merged_output_equals_unmerged_output_and_unmerge_restores_weights()
    {
        var (model, peft) = Adapted(new LoraConfig { TargetModules = ["q_proj", "fc1", "head"], R = 2, LoraAlpha = 4 }, 3);
        var x = randn(4, 6);
        var unmerged = model.call(x);
        var weights = peft.AdaptedModules.Select(a => a.Layer.BaseLayer.weight!.clone()).ToList();

        peft.Merge();
        peft.AdaptedModules.Should().OnlyContain(a => a.Layer.Merged);
        model.call(x).allclose(unmerged, atol: 1e-5).Should().BeTrue();
        peft.AdaptedModules[0].Layer.BaseLayer.weight!.allclose(weights[0]).Should().BeFalse("the update is folded into W");

        peft.Unmerge();
        for (int i = 0; i < weights.Count; i++)
            peft.AdaptedModules[i].Layer.BaseLayer.weight!.allclose(weights[i], atol: 1e-6).Should().BeTrue();
        model.call(x).allclose(unmerged, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void MergeAndUnload_returns_plain_linears_with_the_same_output()
    {
        var (model, peft) = Adapted(new LoraConfig { TargetModules = ["q_proj", "v_proj", "fc2"], R = 2 }, 4);
        var x = randn(3, 6);
        var adapted = model.call(x);

        var plain = peft.MergeAndUnload();

        plain.named_modules().Select(m => m.module).Should().NotContain(m => m is AdapterLinear);
        plain.call(x).allclose(adapted, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void Lily_cannot_be_merged_and_nothing_changes()
    {
        manual_seed(5);
        var model = new ToyModel(1, 6, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj"], R = 2 });
        var weight = peft.AdaptedModules[0].Layer.BaseLayer.weight!.clone();

        var merge = () => peft.Merge();
        merge.Should().Throw<NotSupportedException>().WithMessage("*'layers.0.q_proj'*router*input*");
        var mergeAndUnload = () => peft.MergeAndUnload();
        mergeAndUnload.Should().Throw<NotSupportedException>();

        model.named_modules().Should().Contain(m => m.module is TunerLinear, "the adapters stay in place");
        peft.AdaptedModules[0].Layer.BaseLayer.weight!.allclose(weight, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Theory]
    [InlineData(LoraInit.KaimingUniform)]
    [InlineData(LoraInit.Gaussian)]
    public void Init_leaves_B_zero_and_draws_A_from_the_chosen_distribution(LoraInit init)
    {
        manual_seed(6);
        const int r = 4, dIn = 512;
        var model = new ParallelLinears(1, dIn, 16);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["0"], R = r, InitLoraWeights = init });
        var lora = (LoraLinear)peft.AdaptedModules[0].Layer;
        lora.LoraB.weight!.abs().max().item<float>().Should().Be(0);
        var a = lora.LoraA.weight!;
        if (init == LoraInit.Gaussian)
        {
            a.std().item<float>().Should().BeApproximately(1f / r, 0.02f);
        }
        else
        {
            // kaiming_uniform(a = √5) on [r, d_in] is uniform on ±1/√d_in.
            float bound = 1f / MathF.Sqrt(dIn);
            a.abs().max().item<float>().Should().BeLessThanOrEqualTo(bound).And.BeGreaterThan(0.9f * bound);
            a.std().item<float>().Should().BeApproximately(bound / MathF.Sqrt(3), 0.1f * bound);
        }
    }

    [Fact]
    public void Dropout_acts_only_in_training()
    {
        var (model, _) = Adapted(new LoraConfig { TargetModules = ["head"], R = 2, LoraDropout = 0.5 }, 7);
        var x = randn(8, 6);
        model.eval();
        model.call(x).allclose(model.call(x), rtol: 0, atol: 0).Should().BeTrue();
        model.train();
        model.call(x).allclose(model.call(x)).Should().BeFalse();
    }
}
