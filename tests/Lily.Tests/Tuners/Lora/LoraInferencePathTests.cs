using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// LoRA's forward passes Bᵀ to its one GEMM as a contiguous copy while autograd records and as a view
/// when it does not (issue 17): both must give the update of a plain reference, and the same output.
/// </summary>
public class LoraInferencePathTests
{
    // The benchmark stack's widest projection and batch: large enough that BLAS takes its blocked paths.
    private const int DIn = 512, DOut = 1376, Rank = 8, Rows = 256;

    private static LoraLinear Layer(Device device)
    {
        manual_seed(17);
        var baseLayer = nn.Linear(DIn, DOut, device: device);
        foreach (var p in baseLayer.parameters()) p.requires_grad = false;
        var lora = new LoraLinear(baseLayer, Rank, scaling: 2.0, dropout: 0, LoraInit.KaimingUniform, ScalarType.Float32);
        using (no_grad())
            lora.LoraB.weight!.copy_(randn_like(lora.LoraB.weight!).mul_(0.05));
        return lora;
    }

    // W x + b + s · (x Aᵀ) Bᵀ in float64.
    private static Tensor Reference(LoraLinear lora, Tensor x)
    {
        var xd = x.to(ScalarType.Float64);
        var w = lora.BaseLayer.weight!.to(ScalarType.Float64);
        var b = lora.BaseLayer.bias!.to(ScalarType.Float64);
        var a = lora.LoraA.weight!.to(ScalarType.Float64);
        var bUp = lora.LoraB.weight!.to(ScalarType.Float64);
        return xd.matmul(w.t()) + b + 2.0 * xd.matmul(a.t()).matmul(bUp.t());
    }

    [Fact]
    public void Output_without_a_graph_equals_the_recorded_output_and_a_float64_reference()
    {
        using var scope = NewDisposeScope();
        var lora = Layer(CPU);
        var x = randn(2, Rows / 2, DIn);
        Tensor inference;
        using (no_grad()) inference = lora.call(x);
        var training = lora.call(x);
        training.requires_grad.Should().BeTrue("the adapter's weights require grad, so this forward records");

        (inference - training.detach()).abs().max().item<float>().Should().BeLessThan(1e-6f);
        var reference = Reference(lora, x);
        double scale = reference.abs().max().item<double>();
        (inference.to(ScalarType.Float64) - reference).abs().max().item<double>().Should().BeLessThan(1e-6 * scale * DIn / 64,
            "float32 sums of 512 products stay within a few ulps of the largest output");
    }

    [Fact]
    public void Gradients_of_the_recorded_path_equal_the_reference_gradients()
    {
        using var scope = NewDisposeScope();
        var lora = Layer(CPU);
        var x = randn(Rows, DIn);
        var upstream = randn(Rows, DOut);
        lora.call(x).backward([upstream]);

        var a = lora.LoraA.weight!.to(ScalarType.Float64);
        var bUp = lora.LoraB.weight!.to(ScalarType.Float64);
        var xd = x.to(ScalarType.Float64);
        var g = upstream.to(ScalarType.Float64);
        // ∂L/∂B = s · gᵀ (x Aᵀ), ∂L/∂A = s · (g B)ᵀ x.
        var gradB = 2.0 * g.t().matmul(xd.matmul(a.t()));
        var gradA = 2.0 * g.matmul(bUp).t().matmul(xd);
        lora.LoraB.weight!.grad!.to(ScalarType.Float64).allclose(gradB, rtol: 1e-4, atol: 1e-4).Should().BeTrue();
        lora.LoraA.weight!.grad!.to(ScalarType.Float64).allclose(gradA, rtol: 1e-4, atol: 1e-4).Should().BeTrue();
    }

    [Fact]
    public void Both_paths_run_on_the_meta_device()
    {
        using var scope = NewDisposeScope();
        var meta = new Device(DeviceType.META);
        var lora = Layer(meta);
        var x = randn(Rows, DIn, device: meta);
        using (no_grad())
            lora.call(x).shape.Should().Equal(Rows, DOut);
        lora.call(x).sum().backward();
        lora.LoraA.weight!.grad!.device.type.Should().Be(DeviceType.META);
        lora.LoraB.weight!.grad!.shape.Should().Equal(DOut, Rank);
    }
}
