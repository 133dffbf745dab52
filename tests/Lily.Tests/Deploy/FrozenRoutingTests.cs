using Lily.Analysis;
using Lily.Deploy;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Deploy;

public class FrozenRoutingTests
{
    private static LilyLinear Layer(PeftModel<ToyModel> peft, int i) => (LilyLinear)peft.AdaptedModules[i].Layer;

    [Fact]
    public void Frozen_layer_adds_scaling_times_the_fixed_update_and_ignores_its_router()
    {
        var peft = DeployModels.Lily(1);
        var layer = Layer(peft, 0);
        var p = tensor(new[] { 0.2f, 0.5f, 0.3f });
        layer.FreezeRouting(p);
        var x = randn(2, 5, DeployModels.Dim);

        // By hand: W x + b + 0.7 · (x Aᵀ)(Σ p_e B_e), with B_e rows e·r … e·r + r − 1 of the pool.
        var pool = layer.LilyB.Weight.view(3, 3, DeployModels.Dim);
        var combined = pool[0] * 0.2 + pool[1] * 0.5 + pool[2] * 0.3;
        var expected = nn.functional.linear(x, layer.BaseLayer.weight!, layer.BaseLayer.bias) + 0.7 * x.matmul(layer.LilyA.weight!.t()).matmul(combined);
        DeployModels.MaxDifference(layer.call(x), expected).Should().BeLessThan(1e-5);

        TensorData.Set(layer.Router.weight!, randn(3, 3) * 5);
        DeployModels.MaxDifference(layer.call(x), expected).Should().BeLessThan(1e-5, "a frozen layer does not consult its router");
        layer.FrozenMixture.Should().Equal(new[] { 0.2f, 0.5f, 0.3f }.Select(v => (double)v));

        layer.UnfreezeRouting();
        layer.FrozenMixture.Should().BeNull();
        DeployModels.MaxDifference(layer.call(x), expected).Should().BeGreaterThan(1e-3, "unfrozen, the router decides again");
    }

    [Fact]
    public void Freezing_at_the_calibrated_mixture_of_a_batch_reproduces_batch_mean_routing_on_it()
    {
        var peft = DeployModels.Lily(2);
        var x = randn(3, 4, DeployModels.Dim);
        var routed = peft.Model.call(x);

        peft.FreezeRouting(peft.CalibrateRouting([x]));

        peft.AdaptedModules.Should().OnlyContain(a => a.Layer.CanMerge);
        DeployModels.MaxDifference(peft.Model.call(x), routed).Should().BeLessThan(1e-5);
        DeployModels.MaxDifference(peft.Model.call(x[0]), routed[0]).Should().BeLessThan(1e-5, "frozen, a token's output no longer depends on its batch");

        peft.UnfreezeRouting();
        DeployModels.MaxDifference(peft.Model.call(x[0]), routed[0]).Should().BeGreaterThan(1e-4, "routed by batch mean, one sample alone mixes differently");
    }

    [Fact]
    public void Merged_frozen_Lily_equals_unmerged_and_unmerge_restores_the_weights()
    {
        var peft = DeployModels.Lily(3);
        var x = randn(2, 3, DeployModels.Dim);
        peft.FreezeRouting(peft.CalibrateRouting([randn(4, 3, DeployModels.Dim)]));
        var unmerged = peft.Model.call(x);
        var weights = peft.AdaptedModules.Select(a => a.Layer.BaseLayer.weight!.clone()).ToList();

        peft.Merge();

        peft.AdaptedModules.Should().OnlyContain(a => a.Layer.Merged);
        DeployModels.MaxDifference(peft.Model.call(x), unmerged).Should().BeLessThan(1e-5);
        var layer = Layer(peft, 0);
        var delta = layer.DeltaWeight(tensor(layer.FrozenMixture!));
        DeployModels.MaxDifference(layer.BaseLayer.weight!, weights[0] + delta).Should().BeLessThan(1e-6);
        Action refreeze = () => layer.FreezeRouting(tensor(new[] { 1.0, 0, 0 }));
        refreeze.Should().Throw<InvalidOperationException>().WithMessage("*Unmerge*");

        peft.Unmerge();
        for (int i = 0; i < weights.Count; i++)
            DeployModels.MaxDifference(peft.AdaptedModules[i].Layer.BaseLayer.weight!, weights[i]).Should().BeLessThan(1e-6);
        DeployModels.MaxDifference(peft.Model.call(x), unmerged).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Unfrozen_Lily_still_refuses_to_merge_and_names_FreezeRouting()
    {
        var peft = DeployModels.Lily(4);
        peft.AdaptedModules.Should().OnlyContain(a => !a.Layer.CanMerge);
        var weight = peft.AdaptedModules[0].Layer.BaseLayer.weight!.clone();

        Action merge = () => peft.Merge();

        merge.Should().Throw<NotSupportedException>().WithMessage("*FreezeRouting*");
        peft.AdaptedModules.Should().OnlyContain(a => !a.Layer.Merged);
        peft.AdaptedModules[0].Layer.BaseLayer.weight!.allclose(weight, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Frozen_mixture_follows_the_model_to_another_dtype()
    {
        var peft = DeployModels.Lily(5);
        var x = randn(2, 3, DeployModels.Dim);
        peft.FreezeRouting(peft.CalibrateRouting([x]));
        var single = peft.Model.call(x);

        peft.Model.to(ScalarType.Float64);

        var output = peft.Model.call(x.to(ScalarType.Float64));
        output.dtype.Should().Be(ScalarType.Float64);
        DeployModels.MaxDifference(output, single).Should().BeLessThan(1e-5);
        Layer(peft, 0).FrozenMixture.Should().HaveCount(3);
    }

    [Fact]
    public void FreezeRouting_checks_every_mixture_before_changing_any_layer()
    {
        var peft = DeployModels.Lily(6);
        var paths = peft.AdaptedModules.Select(a => a.Path).ToList();
        var good = paths.ToDictionary(p => p, _ => new[] { 0.2, 0.3, 0.5 });

        var missing = new Dictionary<string, double[]>(good);
        missing.Remove(paths[^1]);
        var typo = new Dictionary<string, double[]>(good) { ["layers.0.q_projj"] = [1.0, 0, 0] };
        var wrongLength = new Dictionary<string, double[]>(good) { [paths[^1]] = [0.5, 0.5] };

        foreach (var bad in new[] { missing, typo, wrongLength })
        {
            Action freeze = () => peft.FreezeRouting(bad);
            freeze.Should().Throw<ArgumentException>();
            peft.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).FrozenMixture == null);
        }
        peft.FreezeRouting(good);
        peft.AdaptedModules.Should().OnlyContain(a => ((LilyLinear)a.Layer).FrozenMixture!.Length == 3);
    }
}
