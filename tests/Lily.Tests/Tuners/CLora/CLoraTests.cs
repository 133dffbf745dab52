using Lily.Analysis;
using Lily.Injection;
using Lily.Planning;
using Lily.Serialization;
using Lily.Tests.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// CLoRA through the registry and the shared machinery: the update's rank, counts, SADE through the
/// factors against the naive d × d formula, merging, files in both layouts, attachment modes, named
/// adapters, budget matching, inspection and config validation.
/// </summary>
public sealed class CLoraTests : IDisposable
{
    private const int Depth = 3, Dim = 12, Hidden = 16, Classes = 4, R = 2, P = 3;

    private readonly string directory = Directory.CreateTempSubdirectory("lily-clora-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static ToyModel BaseModel(int seed)
    {
        manual_seed(seed);
        var model = new ToyModel(Depth, Dim, Hidden, Classes);
        model.eval();
        return model;
    }

    private static CLoraConfig Config(bool randomCores = true, double sade = 0) => new()
    {
        TargetModules = ["q_proj", "v_proj", "fc1"],
        R = R,
        NumBases = P,
        Scaling = 0.5,
        SadeWeight = sade,
        InitWeights = !randomCores,
    };

    private static CLoraLinear[] Layers<T>(PeftModel<T> peft) where T : nn.Module =>
        peft.AdaptedModules.Select(a => (CLoraLinear)a.Layer).ToArray();

    private static long Rank(Tensor deltaWeight) => SpectrumAnalysis.Of(deltaWeight).NumericalRank;

    [Fact]
    public void The_update_reaches_rank_p_times_r_where_LoRA_at_the_same_r_stays_at_r()
    {
        var clora = PeftModel.Create(BaseModel(1), Config());
        foreach (var layer in Layers(clora))
            Rank(layer.DeltaWeight()).Should().Be(P * R, "Σ_h D_h Q_h U_h spans p·r directions with random factors");

        var lora = PeftModel.Create(BaseModel(1), new LoraConfig { TargetModules = ["q_proj", "v_proj", "fc1"], R = R, InitLoraWeights = LoraInit.Random });
        foreach (var a in lora.AdaptedModules)
            Rank(((LoraLinear)a.Layer).DeltaWeight()).Should().Be(R);
    }

    [Fact]
    public void The_spectrum_from_the_declared_factors_has_rank_p_times_r_and_matches_the_dense_update()
    {
        var peft = PeftModel.Create(BaseModel(2), Config());
        var inspection = peft.Inspect();
        inspection.Layers.Should().HaveCount(3 * Depth).And.OnlyContain(l => l.Method == "CLORA" && l.Mixture == null);
        foreach (var layer in inspection.Layers)
        {
            layer.Spectrum.NumericalRank.Should().Be(P * R);
            using var dense = peft.DeltaWeight(layer.Path);
            var expected = SpectrumAnalysis.Of(dense);
            layer.Spectrum.SingularValues.Take(P * R).Should().Equal(expected.SingularValues.Take(P * R), (a, b) => Math.Abs(a - b) <= 1e-4 * expected.SingularValues[0]);
        }
    }

    [Fact]
    public void Trainable_count_equals_the_formula_and_the_plan()
    {
        var model = BaseModel(3);
        var plan = PeftPlan.For(model, Config());
        var peft = PeftModel.Create(model, Config());
        // Per target type (one group each, m = Depth layers): p (d_in r + r d_out) + m p r².
        long Group(long dIn, long dOut) => P * (dIn * R + R * dOut) + Depth * P * R * R;
        long expected = Group(Dim, Dim) + Group(Dim, Dim) + Group(Dim, Hidden);
        peft.GetParameterSummary().TrainableParameters.Should().Be(expected);
        plan.TrainableParameters.Should().Be(expected);
        plan.SharingGroups.Should().HaveCount(3);
        plan.Layers.Should().OnlyContain(l => l.OwnParameters == P * R * R && l.Method == nameof(CLoraLinear));
        peft.GetParameterSummary().Modules.Should().OnlyContain(m => m.OwnParameters == P * R * R);

        var byShape = PeftPlan.For(BaseModel(3), Config() with { ShareBy = CLoraSharing.Shape });
        byShape.SharingGroups.Should().HaveCount(2, "q_proj and v_proj layers have one shape and share one set of bases");
        byShape.TrainableParameters.Should().Be(P * (Dim * R + R * Dim) + 2 * Depth * P * R * R + Group(Dim, Hidden));
    }

    [Fact]
    public void SADE_through_the_factors_equals_the_naive_formula_and_its_gradient_reaches_D_U_and_Q()
    {
        manual_seed(4);
        var d = randn(P * R, 9, dtype: ScalarType.Float64).requires_grad_();
        var u = randn(P * R, 7, dtype: ScalarType.Float64).requires_grad_();
        var q = randn(P, R, R, dtype: ScalarType.Float64).requires_grad_();

        var fast = CLoraSade.Of(d, u, q);
        var naive = SadeReference.Naive(d, u, q);
        fast.item<double>().Should().BeApproximately(naive.item<double>(), 1e-9 * naive.item<double>());

        var gradsFast = autograd.grad([fast], [d, u, q]);
        var gradsNaive = autograd.grad([naive], [d, u, q]);
        for (int i = 0; i < 3; i++)
        {
            gradsFast[i].abs().max().item<double>().Should().BeGreaterThan(0);
            gradsFast[i].allclose(gradsNaive[i], rtol: 1e-9, atol: 1e-9).Should().BeTrue();
        }
    }

    [Fact]
    public void AuxiliaryLoss_is_the_weighted_sum_of_every_layers_SADE_and_trains_all_factors()
    {
        const double weight = 0.25;
        var peft = PeftModel.Create(BaseModel(5), Config(sade: weight));
        var expected = Layers(peft).Sum(l => SadeReference.Naive(l.D.detach(), l.U.detach(), l.Q.detach()).item<float>()) * weight;
        var loss = peft.AuxiliaryLoss();
        loss.item<float>().Should().BeApproximately((float)expected, 1e-4f * (float)expected);

        loss.backward();
        foreach (var layer in Layers(peft))
            foreach (var p in new[] { layer.D, layer.U, layer.Q })
                p.grad!.abs().max().item<float>().Should().BeGreaterThan(0);

        PeftModel.Create(BaseModel(5), Config(sade: 0)).AuxiliaryLoss().item<float>().Should().Be(0, "a zero weight turns SADE off");
        PeftModel.Create(BaseModel(5), new LoraConfig { TargetModules = ["q_proj"] }).AuxiliaryLoss().item<float>().Should().Be(0, "LoRA declares no term");
    }

    [Fact]
    public void A_zero_start_is_a_no_op_and_a_training_step_moves_the_cores()
    {
        var x = randn(2, 5, Dim);
        var model = BaseModel(6);
        var expected = model.call(x);
        var peft = PeftModel.Create(model, Config(randomCores: false, sade: 0.1));
        model.call(x).allclose(expected, rtol: 0, atol: 0).Should().BeTrue();

        var loss = model.call(x).square().mean() + peft.AuxiliaryLoss();
        loss.backward();
        Layers(peft).Should().OnlyContain(l => l.Q.grad!.abs().max().item<float>() > 0, "with random D and U the cores get gradient at once");
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void Merge_then_unmerge_restores_W_and_merged_output_equals_the_adapted_output(AdapterAttachment mode)
    {
        var x = randn(3, 4, Dim);
        var model = BaseModel(7);
        var peft = PeftModel.Create(model, Config(), attachment: mode);
        peft.AdaptedModules.Should().OnlyContain(a => a.Attachment == mode);
        var weights = peft.AdaptedModules.Select(a => a.Layer.BaseLayer.weight!.detach().clone()).ToList();
        var adapted = model.call(x);

        peft.Merge();
        model.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
        peft.Unmerge();
        peft.AdaptedModules.Select(a => a.Layer.BaseLayer.weight!).Zip(weights)
            .Should().OnlyContain(p => p.First.allclose(p.Second, rtol: 0, atol: 1e-6));
        model.call(x).allclose(adapted, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData(AdapterLayout.Peft)]
    [InlineData(AdapterLayout.Compact)]
    public void Save_then_load_reproduces_the_outputs_and_the_sharing(AdapterLayout layout)
    {
        var x = randn(2, 3, Dim);
        var peft = PeftModel.Create(BaseModel(8), Config(sade: 0.5));
        Randomize(peft);
        var expected = peft.Model.call(x);
        peft.Save(directory, layout);

        var loaded = PeftModel.Load(BaseModel(8), directory, isTrainable: true);
        loaded.Config.Should().BeEquivalentTo(peft.Config, o => o.ComparingByMembers<CLoraConfig>());
        loaded.Model.call(x).allclose(expected, rtol: 1e-6, atol: 1e-6).Should().BeTrue();
        loaded.AuxiliaryLoss().item<float>().Should().BeApproximately(peft.AuxiliaryLoss().item<float>(), 1e-3f);
        var layers = Layers(loaded);
        layers.Where(l => l.InFeatures == Dim && l.OutFeatures == Hidden).Select(l => l.D).Distinct(ReferenceEqualityComparer.Instance)
            .Should().HaveCount(1, "the loaded fc1 layers share one D again");
        loaded.GetParameterSummary().TrainableParameters.Should().Be(peft.GetParameterSummary().TrainableParameters);
    }

    [Fact]
    public void The_compact_layout_stores_each_shared_base_once()
    {
        var peft = PeftModel.Create(BaseModel(9), Config());
        var peftDir = Path.Combine(directory, "peft");
        var compactDir = Path.Combine(directory, "compact");
        peft.Save(peftDir, AdapterLayout.Peft);
        peft.Save(compactDir, AdapterLayout.Compact);
        var full = SafeTensorsReader.ReadFile(WeightsPath(peftDir));
        var compact = SafeTensorsReader.ReadFile(WeightsPath(compactDir));
        full.Entries.Count(e => e.Name.Contains("clora_D")).Should().Be(3 * Depth);
        compact.Entries.Count(e => e.Name.Contains("clora_D")).Should().Be(3, "one D per target type");
        full.Entries.Should().Contain(e => e.Name == "base_model.model.layers.0.q_proj.clora_Q.weight");
    }

    [Fact]
    public void Exported_as_a_PEFT_LoRA_of_rank_p_times_r_it_computes_the_same_outputs()
    {
        var x = randn(2, 3, Dim);
        var peft = PeftModel.Create(BaseModel(13), Config());
        var expected = peft.Model.call(x);
        var exportDir = Path.Combine(directory, "as-lora");

        var config = peft.ExportAsLora(exportDir);

        config.R.Should().Be(P * R);
        var lora = PeftModel.Load(BaseModel(13), exportDir);
        lora.Config.Should().BeOfType<LoraConfig>();
        lora.Model.call(x).allclose(expected, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void Moving_the_model_moves_the_bases_and_cores_and_keeps_them_shared(AdapterAttachment mode)
    {
        var model = Lily.Tests.Support.Zoo.Zoo.Create(mode == AdapterAttachment.Replace ? "ModuleField" : "LinearField");
        var peft = PeftModel.Create(model, new CLoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2, NumBases = 2, SadeWeight = 1 }, attachment: mode);
        model.to(new Device(DeviceType.META));
        model.to(ScalarType.Float64);
        model.parameters().Should().OnlyContain(p => p.device.type == DeviceType.META && p.dtype == ScalarType.Float64);
        var layers = Layers(peft);
        layers.Where(l => peft.AdaptedModules.First(a => a.Layer == l).Path.EndsWith("q_proj")).Select(l => l.D)
            .Distinct(ReferenceEqualityComparer.Instance).Should().HaveCount(1, "the q_proj layers still share one D");
        var y = model.call(randn(2, 3, Lily.Tests.Support.Zoo.Zoo.Dim, dtype: ScalarType.Float64, device: new Device(DeviceType.META)));
        y.dtype.Should().Be(ScalarType.Float64);
        var aux = peft.AuxiliaryLoss();
        aux.device.type.Should().Be(DeviceType.META);
        aux.dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void Named_adapters_get_their_own_bases_and_switch()
    {
        var x = randn(2, Dim);
        var peft = PeftModel.Create(BaseModel(10), Config());
        var first = peft.Model.call(x);
        peft.AddAdapter("second", Config() with { TargetModules = ["v_proj", "fc1"], NumBases = 2 });
        peft.SetAdapter("second");
        Layers(peft).Should().HaveCount(2 * Depth).And.OnlyContain(l => l.Bases == 2);
        peft.Model.call(x).allclose(first).Should().BeFalse();
        peft.SetAdapter("default");
        peft.Model.call(x).allclose(first, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void BudgetMatcher_searches_r_and_num_bases_through_what_CLoRA_declares()
    {
        var model = BaseModel(11);
        var baseConfig = Config();
        long budget = PeftPlan.For(model, baseConfig with { R = 3, NumBases = 2 }).TrainableParameters;
        var match = BudgetMatcher.Match(model, baseConfig, budget, new Dictionary<string, IReadOnlyList<int>> { ["num_bases"] = [2, 5] }, maxRank: 16);
        match.Trainable.Should().Be(budget);
        match.Config.Should().Be(baseConfig with { R = 3, NumBases = 2 });

        var lora = () => BudgetMatcher.Match(model, new LoraConfig { TargetModules = ["q_proj"] }, budget, new Dictionary<string, IReadOnlyList<int>> { ["num_bases"] = [2] });
        lora.Should().Throw<ArgumentException>().WithMessage("*num_bases*LORA*");
    }

    [Fact]
    public void The_method_is_registered_and_its_config_round_trips()
    {
        PeftMethods.RegisteredTypes.Should().Contain("CLORA");
        var config = ConfigRoundTrip.Of(Config(sade: 0.01) with { ShareBy = CLoraSharing.Shape });
        config.ShareBy.Should().Be(CLoraSharing.Shape);
    }

    [Theory]
    [InlineData("R")]
    [InlineData("NumBases")]
    [InlineData("Scaling")]
    [InlineData("SadeWeight")]
    [InlineData("ShareBy")]
    public void An_invalid_config_is_rejected_naming_the_field(string field)
    {
        var config = field switch
        {
            "R" => Config() with { R = 0 },
            "NumBases" => Config() with { NumBases = 0 },
            "Scaling" => Config() with { Scaling = double.NaN },
            "SadeWeight" => Config() with { SadeWeight = -1 },
            _ => Config() with { ShareBy = (CLoraSharing)7 },
        };
        var model = BaseModel(12);
        var create = () => PeftModel.Create(model, config);
        create.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
        model.named_parameters().Should().OnlyContain(p => !p.name.Contains("clora"), "nothing is touched");
    }

    [Theory]
    [InlineData("\"share_by\": \"layer\"", "share_by")]
    [InlineData("\"num_bases\": \"four\"", "num_bases")]
    [InlineData("\"r\": 2.5", "r")]
    public void A_file_with_an_invalid_value_is_rejected_naming_the_field(string field, string name)
    {
        var json = $"{{\"peft_type\": \"CLORA\", \"target_modules\": [\"q_proj\"], {field}}}";
        var read = () => AdapterConfigFile.FromJson(json);
        read.Should().Throw<InvalidDataException>().WithMessage($"*{name}*");
    }
}
