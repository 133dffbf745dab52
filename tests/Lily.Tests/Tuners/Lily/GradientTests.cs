using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class GradientTests
{
    [Fact]
    public void At_init_only_B_gets_gradient_and_the_base_gets_none()
    {
        manual_seed(1);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2 });
        model.call(randn(2, 3, 6)).square().sum().backward();

        foreach (var a in peft.AdaptedModules.Select(a => (LilyLinear)a.Layer))
        {
            a.LilyB.Weight.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
            // B = 0 blocks the path to A and the router: their gradient is exactly zero.
            a.LilyA.weight!.grad!.abs().sum().item<float>().Should().Be(0);
            a.Router.weight!.grad!.abs().sum().item<float>().Should().Be(0);
        }
        model.named_parameters().Where(p => !p.parameter.requires_grad).Should().OnlyContain(p => ReferenceEquals(p.parameter.grad, null));
    }

    [Theory]
    [InlineData(LilyRouting.BatchMean)]
    [InlineData(LilyRouting.PerSample)]
    [InlineData(LilyRouting.PerToken)]
    public void Once_B_is_nonzero_A_B_and_routers_all_get_gradient(LilyRouting routing)
    {
        manual_seed(2);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, Routing = routing });
        foreach (var a in peft.AdaptedModules.Select(a => (LilyLinear)a.Layer)) TensorData.Set(a.LilyB.Weight, randn_like(a.LilyB.Weight));

        model.call(randn(2, 3, 6)).square().sum().backward();

        foreach (var p in peft.TrainableParameters()) p.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        model.named_parameters().Where(p => p.name.Contains("base_layer")).Should().OnlyContain(p => ReferenceEquals(p.parameter.grad, null) && !p.parameter.requires_grad);
    }

    [Fact]
    public void Shared_A_and_B_accumulate_gradient_from_every_layer()
    {
        // Parallel layers see the same input, so the loss is a sum of per-layer terms and the
        // shared tensors' gradient must be the sum of the gradients each layer gives alone.
        manual_seed(4);
        const int layers = 4;
        var model = new ParallelLinears(layers, 5, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = 2, StrideA = layers });
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        TensorData.Set(lily[0].LilyB.Weight, randn_like(lily[0].LilyB.Weight));
        var x = randn(6, 5);
        var target = randn(6, 3);

        (Tensor A, Tensor B) Gradients(int? onlyLayer)
        {
            for (int i = 0; i < layers; i++) peft.Sites[i].Disabled = onlyLayer is int only && i != only;
            foreach (var p in peft.TrainableParameters()) p.grad = null;
            // A linear loss keeps the per-layer terms independent.
            (model.call(x) * target).sum().backward();
            return (lily[0].LilyA.weight!.grad!.clone(), lily[0].LilyB.Weight.grad!.clone());
        }

        var (allA, allB) = Gradients(null);
        var perLayer = Enumerable.Range(0, layers).Select(i => Gradients(i)).ToList();

        foreach (var (a, b) in perLayer)
        {
            a.abs().sum().item<float>().Should().BeGreaterThan(0, "every layer contributes to the shared A");
            b.abs().sum().item<float>().Should().BeGreaterThan(0, "every layer contributes to the shared B pool");
        }
        stack(perLayer.Select(g => g.A).ToArray()).sum(0L).allclose(allA, atol: 1e-5).Should().BeTrue();
        stack(perLayer.Select(g => g.B).ToArray()).sum(0L).allclose(allB, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void Lora_gradients_reach_A_and_B_but_not_the_base()
    {
        manual_seed(6);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["v_proj"], R = 2 });
        var lora = peft.AdaptedModules.Select(a => (LoraLinear)a.Layer).ToList();
        model.call(randn(2, 3, 6)).square().sum().backward();
        lora.Should().OnlyContain(l => l.LoraB.weight!.grad!.abs().sum().item<float>() > 0);
        // B = 0 at init: A gets no gradient until B moves.
        lora.Should().OnlyContain(l => l.LoraA.weight!.grad!.abs().sum().item<float>() == 0);
        model.named_parameters().Where(p => p.name.Contains("base_layer")).Should().OnlyContain(p => ReferenceEquals(p.parameter.grad, null));
    }
}
