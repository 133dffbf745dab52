using Lily.Injection;
using Lily.Tests.Support.Zoo;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// libtorch's meta device computes shapes only and refuses to mix with CPU tensors, so a library that
/// made any tensor on the CPU by default (instead of on the model's device) fails here: this is how
/// device correctness is tested without a GPU.
/// </summary>
public sealed class MetaDeviceTests
{
    public static IEnumerable<object[]> Cases() =>
        from style in Zoo.All()
        from mode in new[] { AdapterAttachment.Auto, AdapterAttachment.Hook }
        from method in new[] { "lily", "lora", "lily-per-token", "lily-per-sample", "dora", "dora-dropout", "clora" }
        select new object[] { style.Name, mode, method };

    private static PeftConfig Config(string method) => method switch
    {
        "clora" => new CLoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, NumBases = 2, SadeWeight = 0.1 },
        "lora" => new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, LoraDropout = 0.1 },
        "dora" => new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, UseDora = true },
        "dora-dropout" => new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, UseDora = true, LoraDropout = 0.1 },
        "lily-per-token" => new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2, Routing = LilyRouting.PerToken },
        "lily-per-sample" => new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2, Routing = LilyRouting.PerSample },
        _ => new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2, StrideA = 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Create_forward_and_backward_run_on_the_meta_device(string style, AdapterAttachment mode, string method)
    {
        var meta = new Device(DeviceType.META);
        // Built on the meta device directly: TorchSharp 0.107's Module.to fails on a ModuleDict (two indexers named Item).
        set_default_device(meta);
        nn.Module<Tensor, Tensor> model;
        try
        {
            model = Zoo.Create(style);
        }
        finally
        {
            set_default_device(CPU);
        }
        model.parameters().Should().OnlyContain(p => p.device.type == DeviceType.META);
        var peft = PeftModel.Create(model, Config(method), attachment: mode);

        peft.TrainableParameters().Should().NotBeEmpty().And.OnlyContain(p => p.device.type == DeviceType.META, "adapters are created on the base layer's device");
        var x = randn(2, 3, Zoo.InputDim(style), device: meta);
        var y = model.call(x);
        y.device.type.Should().Be(DeviceType.META);
        (y.sum() + peft.AuxiliaryLoss()).backward();
        peft.TrainableParameters().Should().OnlyContain(p => !ReferenceEquals(p.grad, null) && p.grad!.device.type == DeviceType.META);
        // The participation check and the inference probe (markers made on each layer's device) run there too.
        peft.VerifyAdaptersApplied();
        peft.ProbeAdapters(() => model.call(x)).Layers.Should().OnlyContain(l => l.Outcome == ProbeOutcome.Applied);
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void Moving_an_adapted_model_moves_its_adapters(AdapterAttachment mode)
    {
        // TorchSharp's Linear moves only its weight and bias, never its children: hooked adapters are moved
        // by a follower registered beside them. Without it this test leaves them on the CPU.
        var model = Zoo.Create(mode == AdapterAttachment.Replace ? "ModuleField" : "LinearField");
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = 2 }, attachment: mode);
        model.to(new Device(DeviceType.META));
        model.parameters().Should().OnlyContain(p => p.device.type == DeviceType.META);
        peft.TrainableParameters().Should().HaveCount(2 * peft.GetParameterSummary().Modules.Count + 2, "per layer a router and (stride 1) an A, per target type one pool");
        model.to(ScalarType.Float64);
        model.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        var y = model.call(randn(2, 3, Zoo.Dim, dtype: ScalarType.Float64, device: new Device(DeviceType.META)));
        y.dtype.Should().Be(ScalarType.Float64);
    }
}
