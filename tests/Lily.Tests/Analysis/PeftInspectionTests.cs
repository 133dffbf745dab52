using Lily.Analysis;
using Lily.Deploy;
using Lily.Tests.Deploy;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Analysis;

public class PeftInspectionTests
{
    private static double[] DenseSingularValues(Tensor matrix, int count) =>
        TensorData.ToDoubles(linalg.svdvals(matrix.to(ScalarType.Float64))).Take(count).ToArray();

    [Fact]
    public void LoRA_layers_are_inspected_exactly()
    {
        var peft = DeployModels.Lora(21, r: 4, alpha: 6);

        var inspection = peft.Inspect();

        inspection.AdapterName.Should().Be("default");
        inspection.LayerDivergence.Should().BeNull();
        inspection.Layers.Select(l => l.Path).Should().Equal(peft.AdaptedModules.Select(a => a.Path));
        foreach (var (layer, module) in inspection.Layers.Zip(peft.AdaptedModules))
        {
            layer.Method.Should().Be("LORA");
            layer.Mixture.Should().BeNull();
            layer.Routing.Should().BeNull();
            layer.Spectrum.NumericalRank.Should().Be(4, "B is random, so ΔW has full rank r");
            var dense = DenseSingularValues(peft.DeltaWeight(module.Path), 4);
            layer.Spectrum.SingularValues.Should().Equal(dense, (a, b) => Math.Abs(a - b) < 1e-5);
        }
    }

    [Fact]
    public void Lily_layers_are_inspected_at_the_given_mixtures()
    {
        var peft = DeployModels.Lily(22, r: 3);
        var mixtures = peft.AdaptedModules.Select((a, i) => (a.Path, Mixture: i % 2 == 0 ? new[] { 1.0, 0, 0 } : new[] { 0.2, 0.3, 0.5 }))
            .ToDictionary(m => m.Path, m => m.Mixture);

        var inspection = peft.Inspect(mixtures);

        foreach (var layer in inspection.Layers)
        {
            layer.Method.Should().Be("LILY");
            layer.Mixture.Should().Equal(mixtures[layer.Path]);
            var lily = (LilyLinear)peft.AdaptedModules.Single(a => a.Path == layer.Path).Layer;
            var dense = DenseSingularValues(lily.DeltaWeight(tensor(mixtures[layer.Path])), 3);
            layer.Spectrum.SingularValues.Should().Equal(dense, (a, b) => Math.Abs(a - b) < 1e-5);
        }
        // Rows alternate between two mixtures: JS is 0 between equal rows, positive between different ones.
        var d = inspection.LayerDivergence!.Matrix;
        d.GetLength(0).Should().Be(6);
        d[0, 2].Should().Be(0);
        d[0, 1].Should().BeApproximately(MixtureComparison.JensenShannon([1.0, 0, 0], [0.2, 0.3, 0.5]), 1e-12).And.BePositive();
    }

    [Fact]
    public void Lily_inspected_on_data_uses_each_layers_mean_routing_and_reports_its_statistics()
    {
        var peft = DeployModels.Lily(23);
        var batches = new[] { randn(2, 3, DeployModels.Dim), randn(4, DeployModels.Dim) };

        var inspection = peft.Inspect(batches);

        var calibrated = peft.CalibrateRouting(batches);
        foreach (var layer in inspection.Layers)
        {
            layer.Routing!.TokenCount.Should().Be(10);
            layer.Mixture.Should().Equal(calibrated[layer.Path]);
            layer.Routing.MeanMixture.Should().Equal(calibrated[layer.Path]);
        }
        var rows = tensor(inspection.Layers.SelectMany(l => l.Mixture!).ToArray(), [6, 3]);
        inspection.LayerDivergence!.MeanOffDiagonal.Should().BeApproximately(MixtureComparison.PairwiseJensenShannon(rows).MeanOffDiagonal, 1e-12).And.BePositive();
    }

    [Fact]
    public void Lily_inspected_on_one_input_uses_its_batch_mean_routing()
    {
        manual_seed(24);
        var model = new ParallelLinears(2, 5, 4);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["0", "1"], R = 2, NumB = 2 });
        foreach (var a in peft.AdaptedModules)
            TensorData.Set(((LilyLinear)a.Layer).Router.weight!, randn(2, 2) * 3);
        var x = randn(3, 2, 5);

        var inspection = peft.Inspect(x);

        foreach (var (layer, module) in inspection.Layers.Zip(peft.AdaptedModules))
        {
            layer.Routing!.TokenCount.Should().Be(6);
            layer.Mixture.Should().Equal(TensorData.ToDoubles(((LilyLinear)module.Layer).MeanRoutingWeights(x)), (a, b) => Math.Abs(a - b) < 1e-6);
        }
    }

    [Fact]
    public void Frozen_Lily_is_inspected_at_its_frozen_mixture_and_routing_Lily_needs_one()
    {
        var peft = DeployModels.Lily(25);
        Action inspect = () => peft.Inspect();
        inspect.Should().Throw<ArgumentException>().WithMessage("*FreezeRouting*");

        var mixtures = peft.AdaptedModules.ToDictionary(a => a.Path, _ => new[] { 0.25, 0.25, 0.5 });
        peft.FreezeRouting(mixtures);

        var inspection = peft.Inspect();
        inspection.Layers.Should().OnlyContain(l => l.Mixture!.SequenceEqual(new[] { 0.25, 0.25, 0.5 }));
        inspection.LayerDivergence!.MeanOffDiagonal.Should().Be(0);
        var delta = peft.DeltaWeight(peft.AdaptedModules[0].Path);
        delta.shape.Should().Equal(DeployModels.Dim, DeployModels.Dim);
        inspection.Layers[0].Spectrum.SingularValues.Should().Equal(DenseSingularValues(delta, 3), (a, b) => Math.Abs(a - b) < 1e-5);
    }
}
