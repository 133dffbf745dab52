using Lily.Analysis;
using Lily.Injection;
using Lily.Planning;
using Lily.Serialization;
using Lily.Tests.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// DoRA (<c>use_dora</c>) against PEFT's own file and outputs (Fixtures/peft/lora_dora) and against a hand
/// computation of PEFT's <c>DoraLinearLayer.forward</c>: <c>f = m / ‖W + s·B A‖</c> per output row (norm
/// detached), <c>y = W x + b + (f − 1) W x + f s B A x</c>.
/// </summary>
public sealed class DoraTests
{
    private const string Fixture = "lora_dora";

    private static (Tensor Input, Tensor Expected, Tensor ExpectedMerged) Io()
    {
        var io = SafeTensorsReader.ReadFile(Path.Combine(PeftFixtureNet.Dir(Fixture), "io.safetensors"));
        return (io.ToTensor("input"), io.ToTensor("expected"), io.ToTensor("expected_merged"));
    }

    private static float MaxDiff(Tensor a, Tensor b) => (float)(a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    // One DoRA layer with every tensor random (B and m too), so every term of the formula counts.
    private static LoraLinear RandomDoraLayer(int seed, double dropout = 0, bool bias = true, long dIn = 6, long dOut = 5)
    {
        manual_seed(seed);
        var linear = nn.Linear(dIn, dOut, hasBias: bias);
        var layer = new LoraLinear(linear, 3, 2.0, dropout, LoraInit.KaimingUniform, ScalarType.Float32, useDora: true);
        TensorData.Set(layer.LoraB.weight!, randn(dOut, 3) * 0.5);
        TensorData.Set(layer.Magnitude!.Weight, rand(dOut) + 0.5);
        return layer;
    }

    // PEFT's DoRA output by hand, in float64: f ⊙ (W + s·B A) x + b with f = m / ‖W + s·B A‖ (rows).
    private static Tensor HandOutput(LoraLinear layer, Tensor x)
    {
        var w = layer.BaseLayer.weight!.detach().to(ScalarType.Float64);
        var merged = w + layer.Scaling * layer.LoraB.weight!.detach().to(ScalarType.Float64).matmul(layer.LoraA.weight!.detach().to(ScalarType.Float64));
        var f = layer.Magnitude!.Weight.detach().to(ScalarType.Float64) / merged.pow(2).sum(1).sqrt();
        var y = x.to(ScalarType.Float64).matmul(merged.t()) * f;
        return layer.BaseLayer.bias is { } b ? y + b.detach().to(ScalarType.Float64) : y;
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void A_PEFT_DoRA_file_loads_and_matches_PEFT_in_both_attachment_modes(AdapterAttachment mode)
    {
        var model = PeftFixtureNet.LoadBase(PeftFixtureNet.Dir(Fixture));
        var peft = PeftModel.Load(model, PeftFixtureNet.Dir(Fixture), attachment: mode);
        var (input, expected, _) = Io();

        ((LoraConfig)peft.Config).UseDora.Should().BeTrue();
        peft.Sites.Should().OnlyContain(s => s.Attachment == mode);
        peft.AdaptedModules.Should().HaveCount(12).And.OnlyContain(a => ((LoraLinear)a.Layer).UseDora);
        MaxDiff(model.call(input), expected).Should().BeLessThan(1e-5f, "PEFT's DoRA output");
    }

    [Fact]
    public void MergeAndUnload_matches_PEFTs_merged_output_and_unmerge_restores_the_weights()
    {
        var model = PeftFixtureNet.LoadBase(PeftFixtureNet.Dir(Fixture));
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var peft = PeftModel.Load(model, PeftFixtureNet.Dir(Fixture));
        var (input, expected, expectedMerged) = Io();

        peft.Merge();
        MaxDiff(model.call(input), expectedMerged).Should().BeLessThan(1e-5f, "PEFT's output after merge_and_unload");
        peft.Unmerge();
        foreach (var (name, p) in peft.Model.named_parameters().Where(p => p.name.Contains("base_layer", StringComparison.Ordinal)))
            MaxDiff(p, before[name.Replace(".base_layer", "", StringComparison.Ordinal)]).Should().BeLessThan(1e-6f, $"unmerge restores {name}");
        MaxDiff(model.call(input), expected).Should().BeLessThan(1e-5f);

        peft.MergeAndUnload();
        model.named_modules().Should().NotContain(m => m.name.Contains("lora_", StringComparison.Ordinal));
        MaxDiff(model.call(input), expectedMerged).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Saved_files_use_PEFTs_keys_and_load_back_to_the_same_outputs()
    {
        var model = PeftFixtureNet.LoadBase(PeftFixtureNet.Dir(Fixture));
        var peft = PeftModel.Load(model, PeftFixtureNet.Dir(Fixture));
        var (input, expected, _) = Io();
        var dir = Path.Combine(Path.GetTempPath(), "lily-dora-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.Save(dir);
            var written = SafeTensorsReader.ReadFile(Path.Combine(dir, PeftModel.WeightsFileName)).Names.Order(StringComparer.Ordinal);
            var peftKeys = SafeTensorsReader.ReadFile(Path.Combine(PeftFixtureNet.Dir(Fixture), PeftModel.WeightsFileName)).Names.Order(StringComparer.Ordinal);
            written.Should().Equal(peftKeys, "the file holds exactly PEFT's keys, the magnitude as '…lora_magnitude_vector'");
            File.ReadAllText(Path.Combine(dir, "adapter_config.json")).Should().Contain("\"use_dora\": true");

            var fresh = PeftFixtureNet.LoadBase(PeftFixtureNet.Dir(Fixture));
            PeftModel.Load(fresh, dir, attachment: AdapterAttachment.Hook);
            MaxDiff(fresh.call(input), expected).Should().BeLessThan(1e-5f);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UseDora_round_trips_through_the_config_file()
    {
        ConfigRoundTrip.Of(new LoraConfig { TargetModules = ["q_proj"], UseDora = true }).UseDora.Should().BeTrue();
        ConfigRoundTrip.Of(new LoraConfig { TargetModules = ["q_proj"] }).UseDora.Should().BeFalse();
    }

    [Fact]
    public void The_magnitude_starts_at_the_row_norms_of_W_so_a_new_DoRA_layer_is_a_no_op()
    {
        manual_seed(5);
        var linear = nn.Linear(6, 5);
        var layer = new LoraLinear(linear, 3, 2.0, 0, LoraInit.KaimingUniform, ScalarType.Float32, useDora: true);
        MaxDiff(layer.Magnitude!.Weight, linear.weight!.pow(2).sum(1).sqrt()).Should().BeLessThan(1e-6f);
        var x = randn(4, 6);
        MaxDiff(layer.call(x), linear.call(x)).Should().BeLessThan(1e-6f);
        layer.named_parameters().Select(p => p.name).Should().Contain("lora_magnitude_vector.weight");
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]      // under no_grad: the in-place inference path
    [InlineData(false, true)]
    public void Forward_is_PEFTs_formula_by_hand(bool bias, bool noGrad)
    {
        var layer = RandomDoraLayer(6, bias: bias);
        layer.eval();
        var x = randn(2, 4, 6);
        Tensor y;
        using (noGrad ? no_grad() : null) y = layer.call(x);
        MaxDiff(y, HandOutput(layer, x)).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void While_training_with_dropout_the_base_term_sees_the_dropped_input_as_in_PEFT()
    {
        var layer = RandomDoraLayer(7, dropout: 0.5);
        layer.train();
        var x = randn(8, 6);
        manual_seed(42);
        var y = layer.call(x);
        manual_seed(42);
        var dropped = nn.functional.dropout(x, 0.5, training: true);      // the same mask: one draw, same seed
        var w = layer.BaseLayer.weight!.detach();
        var merged = w + layer.Scaling * layer.LoraB.weight!.detach().matmul(layer.LoraA.weight!.detach());
        var f = layer.Magnitude!.Weight.detach() / merged.pow(2).sum(1).sqrt();
        var expected = nn.functional.linear(x, w, layer.BaseLayer.bias!.detach())
                       + (f - 1) * dropped.matmul(w.t())
                       + f * layer.Scaling * dropped.matmul(layer.LoraA.weight!.detach().t()).matmul(layer.LoraB.weight!.detach().t());
        MaxDiff(y, expected).Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void The_norm_is_detached_so_gradients_are_PEFTs()
    {
        var layer = RandomDoraLayer(8);
        var x = randn(7, 6);
        layer.call(x).pow(2).sum().backward();

        // The reference graph: the same formula with the norm explicitly detached.
        var a = layer.LoraA.weight!.detach().clone().requires_grad_();
        var b = layer.LoraB.weight!.detach().clone().requires_grad_();
        var m = layer.Magnitude!.Weight.detach().clone().requires_grad_();
        var w = layer.BaseLayer.weight!.detach();
        var merged = w + layer.Scaling * b.matmul(a);
        var f = m / merged.detach().pow(2).sum(1).sqrt();
        (nn.functional.linear(x, merged, null) * f + layer.BaseLayer.bias!.detach()).pow(2).sum().backward();

        MaxDiff(layer.Magnitude.Weight.grad!, m.grad!).Should().BeLessThan(1e-4f);
        MaxDiff(layer.LoraA.weight!.grad!, a.grad!).Should().BeLessThan(1e-4f);
        MaxDiff(layer.LoraB.weight!.grad!, b.grad!).Should().BeLessThan(1e-4f);
        
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void Training_steps_run_in_both_modes_with_and_without_bias(AdapterAttachment mode)
    {
        manual_seed(9);
        var model = new TwoLinears();
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["with_bias", "without_bias"], R = 2, UseDora = true }, attachment: mode);
        peft.GetParameterSummary().TrainableParameters.Should().Be(2 * (2 * (6 + 6) + 6), "LoRA's r·(d_in + d_out) plus d_out magnitudes per layer");
        PeftPlan.For(new TwoLinears(), peft.Config).TrainableParameters.Should().Be(2 * (2 * (6 + 6) + 6), "planning counts the magnitudes too");
        var optimizer = optim.SGD(peft.TrainableParameters(), 0.1);
        for (int step = 0; step < 2; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            model.call(randn(4, 5, 6)).pow(2).mean().backward();
            optimizer.step();
        }
        peft.TrainableParameters().Should().HaveCount(2 * 3).And.Contain(p => p.shape.Length == 1, "the magnitudes train");
        peft.TrainableParameters().Should().OnlyContain(p => !ReferenceEquals(p.grad, null));
    }

    private sealed class TwoLinears : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> with_bias = nn.Linear(6, 6);
        private nn.Module<Tensor, Tensor> without_bias = nn.Linear(6, 6, hasBias: false);

        public TwoLinears() : base(nameof(TwoLinears)) => RegisterComponents();

        public override Tensor forward(Tensor x) => without_bias.call(with_bias.call(x).tanh());
    }

    [Fact]
    public void A_float16_base_gives_the_float32_formula_within_half_precision()
    {
        var layer = RandomDoraLayer(10);
        layer.eval();
        var x = randn(3, 6);
        var expected = HandOutput(layer, x);
        var half = nn.Linear(6, 5, dtype: ScalarType.Float16);
        TensorData.Set(half.weight!, layer.BaseLayer.weight!.to(ScalarType.Float16));
        TensorData.Set(half.bias!, layer.BaseLayer.bias!.to(ScalarType.Float16));
        var halfLayer = new LoraLinear(half, 3, 2.0, 0, LoraInit.KaimingUniform, ScalarType.Float32, useDora: true);
        TensorData.Set(halfLayer.LoraA.weight!, layer.LoraA.weight!);
        TensorData.Set(halfLayer.LoraB.weight!, layer.LoraB.weight!);
        TensorData.Set(halfLayer.Magnitude!.Weight, layer.Magnitude!.Weight);
        halfLayer.eval();
        var y = halfLayer.call(x.to(ScalarType.Float16));
        y.dtype.Should().Be(ScalarType.Float16);
        MaxDiff(y.to(ScalarType.Float64), expected).Should().BeLessThan(2e-2f);
    }

    [Fact]
    public void Export_and_analysis_refuse_DoRA_instead_of_dropping_the_magnitude()
    {
        var model = PeftFixtureNet.LoadBase(PeftFixtureNet.Dir(Fixture));
        var peft = PeftModel.Load(model, PeftFixtureNet.Dir(Fixture));
        var path = peft.AdaptedModules[0].Path;
        var act = () => peft.DeltaWeight(path);
        act.Should().Throw<NotSupportedException>().WithMessage("*DoRA*");
        var export = () => peft.ExportAsLora(Path.Combine(Path.GetTempPath(), "lily-dora-export-" + Guid.NewGuid().ToString("N")));
        export.Should().Throw<NotSupportedException>().WithMessage("*DoRA*");
    }
}
