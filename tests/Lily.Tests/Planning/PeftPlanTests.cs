using Lily.Accounting;
using Lily.Planning;
using Lily.Tests.Support;
using Lily.Tests.Tuners;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Planning;

public class PeftPlanTests
{
    public static TheoryData<string, PeftConfig> Configs => new()
    {
        { "lora", new LoraConfig { TargetModules = ["q_proj", "v_proj", "fc1", "fc2"], R = 3 } },
        { "lora+head", new LoraConfig { TargetModules = ["q_proj", "k_proj"], R = 2, ModulesToSave = ["head"] } },
        { "lora all-linear", new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2 } },
        { "lily s1", new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, StrideA = 1, NumB = 2 } },
        { "lily s2", new LilyConfig { TargetModules = ["q_proj", "k_proj", "fc2"], R = 3, StrideA = 2, NumB = 3 } },
        { "lily s3+head", new LilyConfig { TargetModules = ["q_proj", "v_proj", "fc1", "fc2"], R = 2, StrideA = 3, NumB = 2, ModulesToSave = ["head"] } },
        { "lily exclude", new LilyConfig { TargetModules = ["q_proj", "v_proj"], ExcludeModules = ["model.layers.1.q_proj"], R = 2, StrideA = 2 } },
        { "lily layers", new LilyConfig { TargetModules = ["q_proj", "fc1"], LayersToTransform = [0, 2, 4], R = 2, StrideA = 2, NumB = 4 } },
        { "lily regex", new LilyConfig { TargetModulesRegex = @"model\.layers\.\d+\.(q|k)_proj", R = 2, StrideA = 2 } },
    };

    // PEFT's layer-index rule needs a module before "layers.<i>.", as in "model.layers.0.q_proj".
    private static nn.Module<Tensor, Tensor> Wrapped() => nn.Sequential(("model", new ToyModel(5, 6, 10, 3)));

    [Theory]
    [MemberData(nameof(Configs))]
    public void Plan_counts_equal_what_injection_creates(string name, PeftConfig config)
    {
        _ = name;
        using var planned = Wrapped();
        var plan = PeftPlan.For(planned, config);

        using var injected = Wrapped();
        var peft = PeftModel.Create(injected, config);
        var summary = peft.GetParameterSummary();

        plan.TrainableParameters.Should().Be(summary.TrainableParameters);
        plan.Layers.Should().NotBeEmpty();
        plan.Layers.Select(l => (l.Path, l.InFeatures, l.OutFeatures, l.OwnParameters, l.SharedParameters))
            .Should().Equal(summary.Modules.Select(m => (m.Path, m.InFeatures, m.OutFeatures, m.OwnParameters, m.SharedParameters)));
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void A_plan_row_is_the_summary_row_injection_gives_plus_its_target_entry(string name, PeftConfig config)
    {
        _ = name;
        using var planned = Wrapped();
        var plan = PeftPlan.For(planned, config);
        using var injected = Wrapped();
        var summary = PeftModel.Create(injected, config).GetParameterSummary();

        // PlanLayer is an AdaptedModuleSummary; as one, each row equals the summary's, method name included.
        plan.Layers.Select(l => new AdaptedModuleSummary(l.Path, l.Method, l.InFeatures, l.OutFeatures, l.OwnParameters, l.SharedParameters))
            .Should().Equal(summary.Modules);
        plan.Layers.Should().AllBeAssignableTo<AdaptedModuleSummary>().And.OnlyContain(l => l.TargetEntry.Length > 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Lily_counts_follow_the_formula_per_target_type(int stride)
    {
        const int depth = 5, dim = 6, hidden = 10, r = 2, experts = 3;   // 5 layers: not divisible by 2 or 3
        using var model = new ToyModel(depth, dim, hidden, 3);
        var plan = PeftPlan.For(model, new LilyConfig { TargetModules = ["q_proj", "fc1", "fc2"], R = r, StrideA = stride, NumB = experts });

        plan.TrainableParameters.Should().Be(
            ParameterCountTests.LilyFormula(depth, stride, dim, dim, r, experts) + ParameterCountTests.LilyFormula(depth, stride, dim, hidden, r, experts) + ParameterCountTests.LilyFormula(depth, stride, hidden, dim, r, experts));
        plan.SharingGroups.Should().HaveCount(3);
        foreach (var group in plan.SharingGroups)
        {
            group.Layers.Should().HaveCount(depth);
            group.TensorsByName["lily_B.weight"].Should().Be(1);
            group.TensorsByName["lily_A.weight"].Should().Be((depth + stride - 1) / stride);
            group.TensorsByName["lily_router.weight"].Should().Be(depth);
            // A's used by one layer only (stride 1, or the last block when L is not divisible) are not shared.
            group.Tensors.Count(t => t.Name == "lily_A.weight" && t.IsShared).Should().Be(Enumerable.Range(0, depth).Count(i => i % stride == 0 && BlockSize(i) > 1));
        }
        var fc1 = plan.SharingGroups.Single(g => g.Layers[0] == "layers.0.mlp.fc1");
        var pool = fc1.Tensors.Single(t => t.Name == "lily_B.weight");
        pool.Elements.Should().Be(experts * r * hidden);
        pool.Users.Should().Equal(Enumerable.Range(0, depth).Select(i => $"layers.{i}.mlp.fc1"));
        var fc1Layers = plan.Layers.Where(l => l.TargetEntry == "fc1").ToList();
        for (int i = 0; i < depth; i++)
            fc1Layers[i].OwnParameters.Should().Be(r * experts + (BlockSize(i) == 1 ? dim * r : 0), $"layer {i}: its router, and its A when no other layer uses it");

        // Layers in the block of layer i, which share one A.
        int BlockSize(int i) => Math.Min(stride, depth - i / stride * stride);
    }

    [Fact]
    public void Lora_shares_nothing_and_counts_modules_to_save()
    {
        using var model = new ToyModel(2, 6, 10, 3);
        var plan = PeftPlan.For(model, new LoraConfig { TargetModules = ["q_proj"], R = 4, ModulesToSave = ["head"] });

        plan.SharingGroups.Should().BeEmpty();
        plan.Layers.Should().AllSatisfy(l => l.OwnParameters.Should().Be(4 * (6 + 6)));
        plan.ModulesToSave.Should().Equal(new PlanModuleToSave("head", 6 * 3 + 3));
        plan.TrainableParameters.Should().Be(2 * 4 * 12 + 21);
        plan.ToTable().Should().Contain("layers.1.q_proj").And.Contain("module to save: head");
    }

    [Fact]
    public void Planning_does_not_change_the_model()
    {
        using var model = new ToyModel(3, 6, 10, 3);
        foreach (var p in model.parameters().Take(2)) p.requires_grad = false;
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => (Value: kv.Value.clone(), kv.Value.requires_grad));
        var modulesBefore = model.named_modules().Select(m => (m.name, m.module)).ToList();

        _ = PeftPlan.For(model, new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, StrideA = 2, ModulesToSave = ["head"] });
        _ = PeftPlan.For(model, new LoraConfig { TargetModules = ["v_proj"], R = 2 });

        var after = model.state_dict();
        after.Keys.Should().Equal(before.Keys);
        foreach (var (key, value) in after)
        {
            value.requires_grad.Should().Be(before[key].requires_grad, key);
            value.device_type.Should().Be(DeviceType.CPU);
            value.Equals(before[key].Value).Should().BeTrue(key);
        }
        model.named_modules().Select(m => (m.name, m.module)).Should().Equal(modulesBefore);
    }

    [Fact]
    public void A_config_that_does_not_fit_fails_as_injection_does()
    {
        using var model = new ToyModel(2, 6, 10, 3);
        var act = () => PeftPlan.For(model, new LoraConfig { TargetModules = ["nothing"] });
        act.Should().Throw<ArgumentException>().WithMessage("*No module of the model matches*");
    }
}
