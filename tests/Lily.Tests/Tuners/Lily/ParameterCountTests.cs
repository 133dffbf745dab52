using Lily.Accounting;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

public class ParameterCountTests
{
    // ceil(L / stride_A) · d_in · r  +  E · r · d_out  +  L · r · E
    internal static long LilyFormula(int layers, int strideA, long dIn, long dOut, int r, int experts) =>
        (layers + strideA - 1) / strideA * dIn * r + experts * r * dOut + layers * r * experts;

    [Theory]
    [InlineData(4, 1, 6, 6, 2, 2)]
    [InlineData(5, 2, 6, 10, 3, 2)]   // L not divisible by stride_A
    [InlineData(7, 3, 8, 4, 2, 4)]
    [InlineData(3, 5, 5, 7, 1, 3)]    // stride_A larger than L: one A for all
    public void Lily_trainable_count_equals_formula(int layers, int strideA, int dIn, int dOut, int r, int experts)
    {
        var model = new ParallelLinears(layers, dIn, dOut);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = r, StrideA = strideA, NumB = experts });

        var summary = peft.GetParameterSummary();
        summary.TrainableParameters.Should().Be(LilyFormula(layers, strideA, dIn, dOut, r, experts));
        peft.TrainableParameters().Sum(p => p.numel()).Should().Be(summary.TrainableParameters);
        long baseParams = layers * (dIn * dOut + dOut);
        summary.AllParameters.Should().Be(baseParams + summary.TrainableParameters);
    }

    [Fact]
    public void Several_target_types_each_follow_the_formula()
    {
        const int depth = 5, dim = 6, hidden = 10, r = 2, stride = 2, experts = 3;
        var model = new ToyModel(depth, dim, hidden, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "v_proj", "fc1", "fc2"], R = r, StrideA = stride, NumB = experts });

        long expected = LilyFormula(depth, stride, dim, dim, r, experts) * 2       // q_proj, v_proj
                        + LilyFormula(depth, stride, dim, hidden, r, experts)      // fc1
                        + LilyFormula(depth, stride, hidden, dim, r, experts);     // fc2
        peft.GetParameterSummary().TrainableParameters.Should().Be(expected);
    }

    [Fact]
    public void Shared_parts_are_one_tensor_each()
    {
        var model = new ParallelLinears(6, 4, 5);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = 2, StrideA = 3, NumB = 2 });
        var layers = peft.AdaptedModules.Select(a => (LilyLinear)a.Layer).ToList();

        layers[0].LilyA.Should().BeSameAs(layers[2].LilyA);
        layers[0].LilyA.weight.Should().BeSameAs(layers[1].LilyA.weight);
        layers[3].LilyA.Should().BeSameAs(layers[5].LilyA);
        layers[0].LilyA.Should().NotBeSameAs(layers[3].LilyA);
        layers.Select(l => l.LilyB).Distinct().Should().ContainSingle();
        layers.Select(l => l.Router).Distinct().Should().HaveCount(6);
        // named_parameters lists a shared tensor once: 2 A + 1 pool + 6 routers.
        model.named_parameters().Count(p => p.parameter.requires_grad).Should().Be(9);
    }

    [Fact]
    public void Lora_count_is_r_times_in_plus_out_per_layer()
    {
        var model = new ToyModel(3, 6, 10, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "fc1"], R = 4 });
        peft.GetParameterSummary().TrainableParameters.Should().Be(3 * (4 * (6 + 6) + 4 * (6 + 10)));
    }

    [Fact]
    public void Summary_line_has_peft_format_and_rows_split_own_from_shared()
    {
        var model = new ParallelLinears(2, 4, 4);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = 2, StrideA = 2, NumB = 2 });
        var summary = peft.GetParameterSummary();

        // A 2·4 = 8 (shared), pool 2·2·4 = 16 (shared), routers 2·2 = 4 each; base 2·(16+4) = 40.
        summary.TrainableParameters.Should().Be(8 + 16 + 8);
        summary.ToString().Should().Be("trainable params: 32 || all params: 72 || trainable%: 44.4444");
        summary.Modules.Should().HaveCount(2);
        summary.Modules[0].Should().Be(new AdaptedModuleSummary("proj.0", "LilyLinear", 4, 4, 4, 24));
        summary.ToTable().Should().Contain("proj.1").And.EndWith(summary.ToString());
    }

    [Fact]
    public void Groups_follow_peft_by_matched_entry_and_shape()
    {
        // A list entry is a target type: q_proj and v_proj never share, even with equal shapes.
        var listed = PeftModel.Create(new ToyModel(2, 6, 8, 3), new LilyConfig { TargetModules = ["q_proj", "v_proj"], R = 2, StrideA = 2 });
        var byPath = listed.AdaptedModules.ToDictionary(a => a.Path, a => (LilyLinear)a.Layer);
        byPath["layers.0.q_proj"].LilyA.Should().BeSameAs(byPath["layers.1.q_proj"].LilyA);
        byPath["layers.0.q_proj"].LilyB.Should().NotBeSameAs(byPath["layers.0.v_proj"].LilyB);

        // A regex is one target type, as in PEFT: layers of equal shape share, layers of another shape do not.
        var regex = PeftModel.Create(new ToyModel(2, 6, 8, 3), new LilyConfig { TargetModulesRegex = @".*\.(q_proj|v_proj|fc1)", R = 2, StrideA = 2 });
        var r = regex.AdaptedModules.ToDictionary(a => a.Path, a => (LilyLinear)a.Layer);
        r["layers.0.q_proj"].LilyB.Should().BeSameAs(r["layers.1.v_proj"].LilyB);
        r["layers.0.q_proj"].LilyA.Should().BeSameAs(r["layers.0.v_proj"].LilyA, "traversal order q0, v0 fills the first A block of stride 2");
        r["layers.0.mlp.fc1"].LilyB.Should().NotBeSameAs(r["layers.0.q_proj"].LilyB);
    }

    [Fact]
    public void Adapters_created_inside_a_dispose_scope_outlive_it()
    {
        var model = new ParallelLinears(2, 4, 4);
        PeftModel<ParallelLinears> peft;
        using (var scope = torch.NewDisposeScope())
            peft = PeftModel.Create(model, new LilyConfig { TargetModulesRegex = @"proj\.\d+", R = 2 });
        peft.TrainableParameters().Should().OnlyContain(p => p.IsInvalid == false);
        model.call(torch.randn(3, 4)).shape.Should().Equal(3, 4);
    }
}
