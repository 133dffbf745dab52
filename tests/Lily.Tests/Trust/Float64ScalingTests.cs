using Lily.Injection;
using Lily.Tests.Injection;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 9: in float64 the unmerged forward keeps the scaling at double precision, so it matches
/// PEFT's float64 outputs and the merged form to 1e-12, for every method, with scalings float32 cannot hold.
/// </summary>
public sealed class Float64ScalingTests
{
    private const double Tolerance = 1e-12;

    public static TheoryData<string, double, AdapterAttachment> Cases()
    {
        var data = new TheoryData<string, double, AdapterAttachment>();
        foreach (var method in BypassZoo.Methods)
            foreach (var scaling in new[] { 8.0 / 3, 1.7 })
                foreach (var mode in BypassZoo.Modes)
                    data.Add(method, scaling, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_unmerged_update_scales_exactly(string method, double scaling, AdapterAttachment mode)
    {
        if (method == "dora") return;    // DoRA's output is not linear in the scaling; its merged form is checked below
        using var scope = NewDisposeScope();
        var x = Input();
        var (unit, baseOut) = Run(method, 1.0, mode, x);
        var (scaled, _) = Run(method, scaling, mode, x);
        var expected = baseOut + (unit - baseOut) * scaling;
        (scaled - expected).abs().max().item<double>().Should().BeLessThan(Tolerance, $"{method}: the update times {scaling} in double precision");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_unmerged_forward_equals_the_merged_one(string method, double scaling, AdapterAttachment mode)
    {
        if (method == "lily") return;    // Lily's update depends on the input: it has no merged form
        using var scope = NewDisposeScope();
        var x = Input();
        var model = Float64Net();
        var peft = PeftModel.Create(model, BypassZoo.Config(method, scaling, "q_proj", "v_proj", "fc1", "fc2"), attachment: mode);
        BypassZoo.GiveUpdates(peft);
        peft.AdaptedModules.Should().OnlyContain(a => a.Layer.AdapterDtype == ScalarType.Float64);
        Tensor unmerged, merged;
        using (no_grad()) unmerged = model.call(x);
        peft.Merge();
        using (no_grad()) merged = model.call(x);
        (unmerged - merged).abs().max().item<double>().Should().BeLessThan(Tolerance);
    }

    [Theory]
    [InlineData("lora_rank_pattern")]    // model.layers.1.fc1: r 6, alpha 8, scaling 4/3
    [InlineData("lora_dora")]
    [InlineData("lora_rslora")]
    [InlineData("lily")]
    public void Float64_matches_PEFTs_float64_output(string fixture)
    {
        using var scope = NewDisposeScope();
        var dir = PeftFixtureNet.Dir(fixture);
        var model = PeftFixtureNet.LoadBase(dir);
        model.to(ScalarType.Float64);
        var peft = PeftModel.Load(model, dir);
        foreach (var p in peft.Model.parameters()) p.dtype.Should().Be(ScalarType.Float64);
        var input = PeftFixtureNet.LoadIo(dir).Input.to(ScalarType.Float64);
        var expected = PeftFixtureNet.LoadIo(dir, "expected_f64");
        Tensor output;
        using (no_grad()) output = model.call(input);
        (output - expected).abs().max().item<double>().Should().BeLessThan(Tolerance, $"PEFT's float64 output for {fixture}");
    }

    private static Tensor Input()
    {
        manual_seed(11);
        return randn(3, 5, PeftFixtureNet.Dim, dtype: ScalarType.Float64);
    }

    // The same seeded model and adapter values for every scaling, so two runs differ only in the scaling.
    private static (Tensor Output, Tensor BaseOutput) Run(string method, double scaling, AdapterAttachment mode, Tensor x)
    {
        manual_seed(5);
        var model = Float64Net();
        // The last layer only: its update reaches the output linearly, so the output is linear in the scaling.
        var peft = PeftModel.Create(model, BypassZoo.Config(method, scaling, "model.layers.3.fc2"), attachment: mode);
        manual_seed(6);
        BypassZoo.GiveUpdates(peft);
        using (no_grad())
        {
            var output = model.call(x);
            using (peft.DisableAdapters()) return (output, model.call(x));
        }
    }

    private static PeftFixtureNet Float64Net()
    {
        var model = new PeftFixtureNet();
        model.to(ScalarType.Float64);
        return model;
    }
}
