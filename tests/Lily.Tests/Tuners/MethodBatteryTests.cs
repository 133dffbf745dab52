using System.Text.Json.Nodes;
using Lily.Deploy;
using Lily.Injection;
using Lily.Planning;
using Lily.Serialization;
using Lily.Tests.ExternalMethod;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// Every registered method through the same cases, as PEFT's custom-model test table runs every
/// config through the same tests: the adapter changes the output and disabling it restores the base,
/// every adapted layer takes part, a saved adapter reloads bit for bit, merging changes nothing, the
/// meta device runs it, the plan counts what is created, and budget matching finds the nearest rank. A new method gets a row in <see cref="Rows"/>;
/// <see cref="Every_registered_method_has_a_row"/> fails until it has one.
/// </summary>
public sealed class MethodBatteryTests : IDisposable
{
    private static readonly string[] Targets = ["q_proj", "v_proj", "fc1"];

    private readonly string directory = Directory.CreateTempSubdirectory("lily-battery-").FullName;

    static MethodBatteryTests()
    {
        GatedLoraConfigFields.Register();
        RoutedLoraRegistration.Register();
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>The table: the built-in methods (DoRA as LoRA's variant) and the two defined in tests/ExternalMethod (fixed factors, routed).</summary>
    public static readonly IReadOnlyList<MethodCase> Rows =
    [
        new("LoRA", "LORA", () => new LoraConfig { TargetModules = Targets, R = 2, LoraAlpha = 4 }),
        new("DoRA", "LORA", () => new LoraConfig { TargetModules = Targets, R = 2, LoraAlpha = 4, UseDora = true }),
        new("Lily", "LILY", () => new LilyConfig { TargetModules = Targets, R = 2, StrideA = 2, NumB = 3, Scaling = 0.5 },
            (peft, x) => peft.FreezeRouting(peft.CalibrateRouting([x]))),
        new("CLoRA", "CLORA", () => new CLoraConfig { TargetModules = Targets, R = 2, NumBases = 2, Scaling = 0.5 }),
        new("gated LoRA (external)", GatedLoraConfig.Type, () => new GatedLoraConfig { TargetModules = Targets, R = 2, LoraAlpha = 4, GateInit = 0.3 }),
        new("routed LoRA (external)", RoutedLoraConfig.Type, () => new RoutedLoraConfig { TargetModules = Targets, R = 2, LoraAlpha = 4, Experts = 3 },
            (peft, x) => peft.FreezeRouting(peft.CalibrateRouting([x]))),
    ];

    public static TheoryData<MethodCase> Cases => new(Rows);

    // Float64 throughout, so that "the same output" can be asked to 1e-12 where the arithmetic differs.
    private static BatteryNet BaseModel(int seed)
    {
        manual_seed(seed);
        var model = new BatteryNet();
        model.eval();
        return model;
    }

    private static Tensor Input(int seed)
    {
        manual_seed(seed);
        return randn(3, 5, BatteryNet.Dim, dtype: ScalarType.Float64);
    }

    /// <summary>
    /// Creates the adapter and moves every trainable tensor away from its initial value: methods that
    /// start at ΔW = 0 (B zero) would otherwise pass the output checks by doing nothing.
    /// </summary>
    private static PeftModel<BatteryNet> Adapted(MethodCase row, int seed = 1)
    {
        var peft = PeftModel.Create(BaseModel(seed), row.Config());
        manual_seed(seed + 100);
        using (no_grad())
            foreach (var p in peft.TrainableParameters())
                p.add_(randn_like(p).mul_(0.3));
        return peft;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory, MemberData(nameof(Cases))]
    public void The_adapter_changes_the_output_and_disabling_it_gives_the_base_output(MethodCase row)
    {
        var x = Input(7);
        var expected = BaseModel(1).call(x);
        var peft = Adapted(row);

        var adapted = peft.Model.call(x);
        (adapted - expected).abs().max().item<double>().Should().BeGreaterThan(1e-3, "a moved adapter changes the output");
        using (peft.DisableAdapters())
            Same(peft.Model.call(x), expected).Should().BeTrue("disabled adapters leave the base layers' own arithmetic");
        Same(peft.Model.call(x), adapted).Should().BeTrue("enabling again gives the adapted output back");
    }

    [Theory, MemberData(nameof(Cases))]
    public void Every_adapted_layer_takes_part_by_the_librarys_verdict_and_its_probe(MethodCase row)
    {
        var peft = Adapted(row);
        var x = Input(7);
        peft.AdaptedModules.Select(a => a.Path).Should().Equal(
            "blocks.0.q_proj", "blocks.0.v_proj", "blocks.0.fc1", "blocks.1.q_proj", "blocks.1.v_proj", "blocks.1.fc1");

        peft.Model.call(x);
        peft.VerifyAdaptersApplied();
        peft.ProbeAdapters(() => peft.Model.call(x)).Layers.Should().HaveCount(6).And.OnlyContain(l => l.Outcome == ProbeOutcome.Applied);
    }

    [Theory, MemberData(nameof(Cases))]
    public void A_saved_adapter_reloads_into_a_fresh_base_model_bit_for_bit(MethodCase row)
    {
        var x = Input(7);
        var peft = Adapted(row);
        // Both outputs without autograd: a layer whose tensors need no gradient may take a fused path
        // (LoRA's addmm at inference), which rounds differently from the recorded one.
        using var noGrad = no_grad();
        var expected = peft.Model.call(x);
        peft.Save(directory);

        var loaded = PeftModel.Load(BaseModel(1), directory);

        loaded.Config.PeftType.Should().Be(row.PeftType);
        Same(loaded.Model.call(x), expected).Should().BeTrue();
    }

    [Theory, MemberData(nameof(Cases))]
    public void Merging_gives_the_unmerged_output_and_unmerging_gives_the_base_weights_back(MethodCase row)
    {
        var x = Input(7);
        var peft = Adapted(row);
        row.PrepareMerge?.Invoke(peft, x);
        var weights = BaseModel(1).named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var unmerged = peft.Model.call(x);

        peft.Merge();
        (peft.Model.call(x) - unmerged).abs().max().item<double>().Should().BeLessThan(1e-12);
        peft.Unmerge();

        foreach (var (name, parameter) in peft.Model.named_parameters().Where(p => weights.ContainsKey(p.name)))
            (parameter - weights[name]).abs().max().item<double>().Should().BeLessThan(1e-12, name);
        (peft.Model.call(x) - unmerged).abs().max().item<double>().Should().BeLessThan(1e-12);
    }

    [Theory, MemberData(nameof(Cases))]
    public void On_the_meta_device_create_forward_and_backward_give_shapes_and_gradients(MethodCase row)
    {
        var meta = new Device(DeviceType.META);
        set_default_device(meta);
        BatteryNet model;
        try { model = new BatteryNet(); }
        finally { set_default_device(CPU); }
        var peft = PeftModel.Create(model, row.Config());

        var y = model.call(randn(3, 5, BatteryNet.Dim, device: meta));
        y.device.type.Should().Be(DeviceType.META);
        y.shape.Should().Equal(3, 5, BatteryNet.Classes);
        (y.sum() + peft.AuxiliaryLoss()).backward();
        peft.TrainableParameters().Should().NotBeEmpty().And.OnlyContain(p => p.device.type == DeviceType.META && !ReferenceEquals(p.grad, null));
    }

    [Theory, MemberData(nameof(Cases))]
    public void The_plan_counts_what_create_makes_and_the_summary_agrees(MethodCase row)
    {
        var plan = PeftPlan.For(BaseModel(1), row.Config());
        var peft = PeftModel.Create(BaseModel(1), row.Config());
        long counted = peft.TrainableParameters().Sum(p => p.numel());

        counted.Should().BeGreaterThan(0);
        plan.TrainableParameters.Should().Be(counted);
        peft.GetParameterSummary().TrainableParameters.Should().Be(counted);
    }

    [Theory, MemberData(nameof(Cases))]
    public void Budget_matching_finds_the_nearest_rank_or_refuses_a_method_without_one(MethodCase row)
    {
        var model = BaseModel(1);
        var config = row.Config();
        // LoRA r = 3 on the same layers: a budget every method can come near.
        long budget = BudgetMatcher.Count(model, new LoraConfig { TargetModules = Targets, R = 3 });
        if (config.RankKnob is not { } rank)
        {
            var refuse = () => BudgetMatcher.Match(model, config, budget);
            refuse.Should().Throw<ArgumentException>().WithMessage($"*{config.PeftType} declares none*");
            return;
        }

        var match = BudgetMatcher.Match(model, config, budget, maxRank: 16);

        var peft = PeftModel.Create(BaseModel(1), match.Config);
        peft.TrainableParameters().Sum(p => p.numel()).Should().Be(match.Trainable, "the count the matcher reports is what Create makes");
        int r = JsonNode.Parse(AdapterConfigFile.ToJson(match.Config))![rank]!.GetValue<int>();
        long Gap(int rr) => Math.Abs(BudgetMatcher.Count(model, match.Config.WithKnob(rank, rr)) - budget);
        Gap(r).Should().BeLessThanOrEqualTo(Gap(r + 1));
        if (r > 1) Gap(r).Should().BeLessThanOrEqualTo(Gap(r - 1));
    }

    [Fact]
    public void Every_registered_method_has_a_row()
    {
        var covered = Rows.Select(r => r.PeftType).ToHashSet();
        // Registered in this process: the built-in methods and those the test project defines (the
        // static constructor registered them). A method registered anywhere in the tests needs a row.
        PeftMethods.RegisteredTypes.Should().Contain([LoraConfig.Type, LilyConfig.Type, CLoraConfig.Type, GatedLoraConfig.Type, RoutedLoraConfig.Type])
            .And.OnlyContain(t => covered.Contains(t));
    }
}
