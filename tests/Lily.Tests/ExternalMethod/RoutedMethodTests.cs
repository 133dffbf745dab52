using Lily.Analysis;
using Lily.Deploy;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// A routed method defined outside the library (routed LoRA, this folder) gets what Lily gets from the
/// shared tools, through <see cref="IRoutedAdapter"/> alone: routing calibration, freezing, merging and
/// export (Deploy), inspection, ΔW and routing statistics (Analysis), and the batch-mixing declaration the
/// data-parallel check reads (Distributed). Every expectation is computed by hand in float64 from the
/// layer's tensors.
/// </summary>
public sealed class RoutedMethodTests : IDisposable
{
    private const int Dim = 5, Out = 4, R = 2, Experts = 2, Seed = 31;
    private const double Alpha = 3;                 // scaling = alpha / r = 1.5
    private const double Scaling = Alpha / R;
    private static readonly string[] Paths = ["proj.0", "proj.1"];

    private readonly string directory = Directory.CreateTempSubdirectory("lily-routed-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    // Two parallel layers that both see the model's input, so each one's calibrated mixture is the mean
    // over the very tokens given; B and the routers get random values (B starts at zero).
    private static PeftModel<ParallelLinears> Routed()
    {
        var peft = PeftModel.Create(Base(), new RoutedLoraConfig { TargetModules = ["0", "1"], R = R, LoraAlpha = Alpha, Experts = Experts });
        manual_seed(Seed + 1);
        foreach (var layer in Layers(peft))
        {
            TensorData.Set(layer.LoraB.weight!, randn_like(layer.LoraB.weight!));
            TensorData.Set(layer.Router.weight!, randn_like(layer.Router.weight!) * 2);
        }
        return peft;
    }

    private static ParallelLinears Base()
    {
        manual_seed(Seed);
        return new ParallelLinears(2, Dim, Out);
    }

    private static RoutedLoraLinear[] Layers(PeftModel<ParallelLinears> peft) =>
        peft.AdaptedModules.Select(a => (RoutedLoraLinear)a.Layer).ToArray();

    private static Tensor F64(Tensor t) => t.detach().to(ScalarType.Float64);

    // softmax(router · x) per token, in float64: [N, E].
    private static Tensor HandProbabilities(RoutedLoraLinear layer, Tensor x)
    {
        var logits = F64(x).reshape(-1, Dim).matmul(F64(layer.Router.weight!).t());
        var e = logits.sub(logits.amax([1], keepdim: true)).exp();
        return e.div(e.sum(1, keepdim: true));
    }

    private static double[] HandMeanMixture(RoutedLoraLinear layer, Tensor x) => TensorData.ToDoubles(HandProbabilities(layer, x).mean([0]));

    // scaling · Σ_e m_e B_e A_e, expert by expert: [d_out, d_in].
    private static Tensor HandDelta(RoutedLoraLinear layer, double[] mixture)
    {
        var a = F64(layer.LoraA.weight!);
        var b = F64(layer.LoraB.weight!);
        var sum = zeros(Out, Dim, ScalarType.Float64);
        for (int e = 0; e < Experts; e++)
            sum += mixture[e] * b.narrow(1, e * R, R).matmul(a.narrow(0, e * R, R));
        return sum * Scaling;
    }

    private static Tensor BaseOutput(RoutedLoraLinear layer, Tensor x) =>
        F64(x).matmul(F64(layer.BaseLayer.weight!).t()) + F64(layer.BaseLayer.bias!);

    private static void Close(Tensor actual, Tensor expected, double tolerance = 1e-5) =>
        F64(actual).allclose(F64(expected), rtol: 0, atol: tolerance).Should().BeTrue(
            $"max difference {F64(actual).sub(F64(expected)).abs().max().item<double>()}");

    private static void CloseValues(IReadOnlyList<double> actual, IReadOnlyList<double> expected, double tolerance = 1e-6) =>
        actual.Should().Equal(expected, (p, q) => Math.Abs(p - q) <= tolerance);

    [Fact]
    public void The_layer_computes_the_batch_mean_mixture_of_its_experts_as_by_hand()
    {
        var peft = Routed();
        var layer = Layers(peft)[0];
        var x = randn(3, 2, Dim);

        var output = layer.forward(x);

        peft.AdaptedModules.Should().OnlyContain(a => a.Layer is IRoutedAdapter);
        var update = F64(x).reshape(-1, Dim).matmul(HandDelta(layer, HandMeanMixture(layer, x)).t()).reshape(3, 2, Out);
        update.abs().max().item<double>().Should().BeGreaterThan(1e-2, "the update is large enough for the checks below to fail");
        Close(output, BaseOutput(layer, x) + update);
    }

    [Fact]
    public void Calibration_and_freezing_fix_each_layer_at_the_mean_routing_of_the_data()
    {
        var peft = Routed();
        var batches = new[] { randn(2, 3, Dim), randn(4, Dim) };
        var all = cat(batches.Select(b => b.reshape(-1, Dim)).ToList(), 0);
        var x = randn(3, Dim);

        var mixtures = peft.CalibrateRouting(batches);

        mixtures.Keys.Should().Equal(Paths);
        foreach (var (path, layer) in Paths.Zip(Layers(peft))) CloseValues(mixtures[path], HandMeanMixture(layer, all));
        mixtures[Paths[0]][0].Should().NotBeApproximately(mixtures[Paths[1]][0], 1e-3, "the routers differ, so must the mixtures");

        peft.FreezeRouting(mixtures);

        var frozen = peft.Model.call(x);
        Layers(peft).Should().OnlyContain(l => l.CanMerge);
        foreach (var (path, layer) in Paths.Zip(Layers(peft))) CloseValues(layer.FrozenMixture!, mixtures[path], 0);
        var expected = Layers(peft).Select(l => BaseOutput(l, x) + F64(x).matmul(HandDelta(l, mixtures[Paths[Array.IndexOf(Layers(peft), l)]]).t()))
            .Aggregate((p, q) => p + q);
        Close(frozen, expected);
        Close(peft.Model.call(x.narrow(0, 0, 1)), frozen.narrow(0, 0, 1), 1e-6);

        peft.Merge();
        Close(peft.Model.call(x), frozen);
        peft.Unmerge();
        peft.UnfreezeRouting();
        Layers(peft).Should().OnlyContain(l => l.FrozenMixture == null && !l.CanMerge);
        var wrong = new Dictionary<string, double[]> { [Paths[0]] = [1.0], [Paths[1]] = [0.5, 0.5] };
        var freeze = () => peft.FreezeRouting(wrong);
        freeze.Should().Throw<ArgumentException>().WithMessage("*2 entries*");
    }

    [Fact]
    public void Export_as_LoRA_loads_as_a_plain_LoRA_that_computes_what_the_frozen_model_computes()
    {
        var peft = Routed();
        var x = randn(4, Dim);
        peft.FreezeRouting(peft.CalibrateRouting([randn(6, Dim)]));
        var expected = peft.Model.call(x);

        var config = peft.ExportAsLora(directory);
        var loaded = PeftModel.Load(Base(), directory);

        config.R.Should().Be(Experts * R, "the mixed update is one product of inner dimension E·r");
        loaded.Config.PeftType.Should().Be("LORA");
        Close(loaded.Model.call(x), expected);

        // Squeezed to rank 1: the singular values are those of the hand-made ΔW.
        var report = peft.ExportSqueezedLora(Path.Combine(directory, "squeezed"), rank: 1);
        foreach (var (layer, squeezed) in Layers(peft).Zip(report.Layers))
        {
            var sigma = TensorData.ToDoubles(linalg.svdvals(HandDelta(layer, layer.FrozenMixture!)));
            CloseValues(squeezed.SingularValues, sigma.Take(squeezed.SingularValues.Length).ToArray(), 1e-5);
            squeezed.EnergyKept.Should().BeApproximately(sigma[0] * sigma[0] / sigma.Sum(s => s * s), 1e-6);
        }
    }

    [Fact]
    public void Inspection_reads_delta_W_spectra_and_routing_statistics_of_the_routed_layers()
    {
        var peft = Routed();
        var batches = new[] { randn(2, 3, Dim), randn(4, Dim) };
        var all = cat(batches.Select(b => b.reshape(-1, Dim)).ToList(), 0);

        var inspection = peft.Inspect(batches);

        inspection.Layers.Select(l => l.Path).Should().Equal(Paths);
        foreach (var (inspected, layer) in inspection.Layers.Zip(Layers(peft)))
        {
            var p = HandProbabilities(layer, all);
            var mixture = HandMeanMixture(layer, all);
            inspected.Method.Should().Be(RoutedLoraConfig.Type);
            CloseValues(inspected.Mixture!, mixture);
            inspected.Routing!.TokenCount.Should().Be(10);
            CloseValues(inspected.Routing.ArgmaxFraction, Enumerable.Range(0, Experts).Select(e => p.argmax(1).eq(e).sum().item<long>() / 10.0).ToArray(), 1e-12);
            inspected.Routing.MeanTokenEntropy.Should().BeApproximately(-(p * p.log()).sum(1).mean().item<double>(), 1e-6);
            var sigma = TensorData.ToDoubles(linalg.svdvals(HandDelta(layer, mixture)));
            CloseValues(inspected.Spectrum.SingularValues, sigma.Take(inspected.Spectrum.SingularValues.Length).ToArray(), 1e-5);
        }
        var (m0, m1) = (inspection.Layers[0].Mixture!, inspection.Layers[1].Mixture!);
        inspection.LayerDivergence!.MeanOffDiagonal.Should().BeApproximately(MixtureComparison.JensenShannon(m0, m1), 1e-9);
        inspection.LayerDivergence.MeanOffDiagonal.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Delta_weight_is_the_hand_sum_of_experts_and_what_the_frozen_layer_adds_in_forward()
    {
        var peft = Routed();
        var layer = Layers(peft)[1];
        double[] mixture = [0.3, 0.7];
        var x = randn(5, Dim);

        var unfrozen = () => peft.DeltaWeight(Paths[1]);
        unfrozen.Should().Throw<ArgumentException>().WithMessage("*FreezeRouting*");
        Close(peft.DeltaWeight(Paths[1], mixture), HandDelta(layer, mixture));

        layer.FreezeRouting(tensor(mixture));
        var delta = peft.DeltaWeight(Paths[1]);
        Close(layer.forward(x) - layer.BaseLayer.forward(x), x.matmul(delta.t()));
    }

    [Fact]
    public void The_layer_declares_truthfully_whether_it_mixes_across_the_batch_which_the_data_parallel_check_reads()
    {
        var peft = Routed();
        var x = randn(4, Dim);
        var first = x.narrow(0, 0, 1);

        Layers(peft).Should().OnlyContain(l => ((IRoutedAdapter)l).MixesAcrossBatch);
        F64(peft.Model.call(x).narrow(0, 0, 1)).sub(F64(peft.Model.call(first))).abs().max().item<double>()
            .Should().BeGreaterThan(1e-4, "with the batch mean, a sample alone is mixed differently");

        foreach (var layer in Layers(peft)) layer.PerToken = true;

        Layers(peft).Should().OnlyContain(l => !((IRoutedAdapter)l).MixesAcrossBatch);
        Close(peft.Model.call(x).narrow(0, 0, 1), peft.Model.call(first), 1e-6);
        var layer0 = Layers(peft)[0];
        var perToken = HandProbabilities(layer0, x);
        var expected = Enumerable.Range(0, 4).Select(i =>
            F64(x).narrow(0, i, 1).matmul(HandDelta(layer0, TensorData.ToDoubles(perToken[i])).t())).ToList();
        Close(layer0.forward(x) - layer0.BaseLayer.forward(x), cat(expected, 0));
    }
}
