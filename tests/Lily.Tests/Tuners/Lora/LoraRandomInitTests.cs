using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>LoraInit.Random (PEFT's init_lora_weights=False): B is kaiming-uniform too, so the adapter is not a no-op.</summary>
public class LoraRandomInitTests
{
    [Theory]
    [InlineData(LoraInit.KaimingUniform, false)]
    [InlineData(LoraInit.Gaussian, false)]
    [InlineData(LoraInit.Random, true)]
    public void Only_random_init_starts_with_a_non_zero_B(LoraInit init, bool changesOutput)
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        var layer = new LoraLinear(nn.Linear(8, 6), r: 4, scaling: 1, dropout: 0, init, ScalarType.Float32);
        var x = randn(3, 8);

        bool bNonZero = layer.LoraB.weight!.abs().max().item<float>() > 0;
        bool differs = !layer.call(x).allclose(layer.BaseLayer.call(x), atol: 1e-7);

        bNonZero.Should().Be(changesOutput);
        differs.Should().Be(changesOutput);
        // kaiming-uniform with a = √5 on [6, 4]: bound = 1 / √fan_in = 1 / 2.
        if (init == LoraInit.Random) layer.LoraB.weight!.abs().max().item<float>().Should().BeLessThanOrEqualTo(0.5f);
    }
}
