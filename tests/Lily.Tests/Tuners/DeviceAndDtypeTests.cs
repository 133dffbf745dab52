using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class DeviceAndDtypeTests
{
    [Fact]
    public void Adapters_take_the_base_layers_dtype()
    {
        var model = new ToyModel(2, 6, 8, 3, ScalarType.Float64);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj"], R = 2 });
        peft.TrainableParameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        model.call(randn(2, 6, dtype: ScalarType.Float64)).dtype.Should().Be(ScalarType.Float64);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Half_precision_bases_get_float32_adapters_and_keep_their_output_dtype(ScalarType half)
    {
        manual_seed(1);
        var model = new ParallelLinears(2, 8, 8);
        model.to(half);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModulesRegex = @"proj\.\d+", R = 2 });
        peft.TrainableParameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        var y = model.call(randn(3, 8).to(half));
        y.dtype.Should().Be(half);

        var keep = PeftModel.Create(new ParallelLinears(1, 8, 8).to(half), new LoraConfig { TargetModules = ["0"], AutocastAdapterDtype = false });
        keep.TrainableParameters().Should().OnlyContain(p => p.dtype == half);
    }

    [Fact]
    public void Moving_the_model_moves_the_adapters_and_keeps_sharing()
    {
        manual_seed(2);
        var model = new ParallelLinears(4, 6, 5);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = 2, StrideA = 2 });
        var lily = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();
        TensorData.Set(lily[0].LilyB.Weight, randn_like(lily[0].LilyB.Weight));
        var x = randn(3, 6);
        var before = model.call(x);

        model.to(ScalarType.Float64);

        peft.TrainableParameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        lily[0].LilyA.weight.Should().BeSameAs(lily[1].LilyA.weight);
        lily[0].LilyB.Weight.Should().BeSameAs(lily[3].LilyB.Weight);
        peft.GetParameterSummary().TrainableParameters.Should().Be(2 * 2 * 6 + 2 * 2 * 5 + 4 * 2 * 2);
        model.call(x.to(ScalarType.Float64)).to(ScalarType.Float32).allclose(before, atol: 1e-5).Should().BeTrue();
    }

    [CudaFact]
    public void Cuda_when_available()
    {
        var model = new ToyModel(1, 6, 8, 3);
        model.to(CUDA);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj"], R = 2 });
        peft.TrainableParameters().Should().OnlyContain(p => p.device_type == DeviceType.CUDA);
        model.call(randn(2, 6, device: CUDA)).device_type.Should().Be(DeviceType.CUDA);
    }
}
