using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Deploy;

/// <summary>Small adapted models with non-zero updates and routers that route differently per layer.</summary>
internal static class DeployModels
{
    public const int Dim = 6, Hidden = 10, Classes = 4;

    public static ToyModel Base(int seed)
    {
        manual_seed(seed);
        return new ToyModel(2, Dim, Hidden, Classes);
    }

    /// <summary>Lily on q/v/fc1 of a seed-built ToyModel; experts, routers and the saved head get random values.</summary>
    public static PeftModel<ToyModel> Lily(int seed, int r = 3, int experts = 3, double scaling = 0.7, IReadOnlyList<string>? modulesToSave = null)
    {
        var peft = PeftModel.Create(Base(seed), new LilyConfig
        {
            TargetModules = ["q_proj", "v_proj", "fc1"], R = r, NumB = experts, Scaling = scaling, ModulesToSave = modulesToSave,
        });
        manual_seed(seed + 100);
        foreach (var a in peft.AdaptedModules)
        {
            var lily = (LilyLinear)a.Layer;
            TensorData.Set(lily.LilyB.Weight, randn_like(lily.LilyB.Weight));
            TensorData.Set(lily.Router.weight!, randn_like(lily.Router.weight!) * 3);
        }
        foreach (var (name, p) in peft.Model.named_parameters().Where(p => p.name.StartsWith("head", StringComparison.Ordinal) && p.parameter.requires_grad))
            TensorData.Set(p, randn_like(p));
        return peft;
    }

    /// <summary>LoRA with random B on q/v/fc1 of a seed-built ToyModel.</summary>
    public static PeftModel<ToyModel> Lora(int seed, int r = 4, double alpha = 6)
    {
        var peft = PeftModel.Create(Base(seed), new LoraConfig { TargetModules = ["q_proj", "v_proj", "fc1"], R = r, LoraAlpha = alpha });
        manual_seed(seed + 100);
        foreach (var a in peft.AdaptedModules)
            TensorData.Set(((LoraLinear)a.Layer).LoraB.weight!, randn_like(((LoraLinear)a.Layer).LoraB.weight!));
        return peft;
    }

    public static double MaxDifference(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
}
