using Lily.Injection;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// Mixed-adapter batches (<see cref="PeftModel{TModel}.UseAdapterPerSample"/>, PEFT's <c>adapter_names=</c>):
/// against PEFT's own output (Fixtures/peft/lora_mixed_batch) and against running each adapter's samples alone.
/// </summary>
public sealed class MixedBatchTests
{
    private const string Base = PeftModel<PeftFixtureNet>.BaseAdapterName;

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    // PEFT's adapters "a" and "b" (the fixture has no "default": it is loaded first, then deleted).
    private static (PeftFixtureNet Model, PeftModel<PeftFixtureNet> Peft) LoadFixture(AdapterAttachment mode)
    {
        var dir = PeftFixtureNet.Dir("lora_mixed_batch");
        var model = PeftFixtureNet.LoadBase(dir);
        var peft = PeftModel.Load(model, Path.Combine(dir, "a"), attachment: mode);
        peft.LoadAdapter(Path.Combine(dir, "a"), "a", attachment: mode);
        peft.LoadAdapter(Path.Combine(dir, "b"), "b", attachment: mode);
        peft.DeleteAdapter(PeftModel<PeftFixtureNet>.DefaultAdapterName);
        return (model, peft);
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void A_mixed_LoRA_batch_matches_PEFTs_output(AdapterAttachment mode)
    {
        var (model, peft) = LoadFixture(mode);
        var io = SafeTensorsReader.ReadFile(Path.Combine(PeftFixtureNet.Dir("lora_mixed_batch"), "io.safetensors"));
        var input = io.ToTensor("input");
        peft.ActiveAdapter.Should().Be("a");

        Tensor output;
        using (peft.UseAdapterPerSample(["a", "b", Base, "a"])) output = model.call(input);

        MaxDiff(output, io.ToTensor("expected")).Should().BeLessThan(1e-5f, "PEFT's model(x, adapter_names=[a, b, __base__, a])");
        MaxDiff(output[0], io.ToTensor("expected_a")[0]).Should().BeLessThan(1e-5f);
        MaxDiff(output[1], io.ToTensor("expected_b")[1]).Should().BeLessThan(1e-5f);
        MaxDiff(output[2], io.ToTensor("base_output")[2]).Should().BeLessThan(1e-5f);
        MaxDiff(output[3], io.ToTensor("expected_a")[3]).Should().BeLessThan(1e-5f);
        MaxDiff(model.call(input), io.ToTensor("expected_a")).Should().BeLessThan(1e-5f, "after the scope the active adapter runs the whole batch again");
    }

    // Two Lily adapters with random pools; "y" adapts fewer layers than "x", so its samples get the base output at fc1.
    private static (ToyModel Model, PeftModel<ToyModel> Peft) TwoLilyAdapters(LilyRouting routing, AdapterAttachment mode)
    {
        manual_seed(11);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, NumB = 3, Routing = routing }, attachment: mode);
        peft.AddAdapter("y", new LilyConfig { TargetModules = ["q_proj"], R = 3, NumB = 2, Routing = routing }, mode);
        foreach (var site in peft.Sites)
            foreach (var layer in site.Adapters.Values.Cast<LilyLinear>())
                TensorData.Set(layer.LilyB.Weight, randn_like(layer.LilyB.Weight));
        model.eval();
        return (model, peft);
    }

    private static Tensor Alone<TModel>(PeftModel<TModel> peft, string adapter, Tensor samples) where TModel : nn.Module<Tensor, Tensor>
    {
        if (adapter == Base)
            using (peft.DisableAdapters()) return peft.Model.call(samples);
        var active = peft.ActiveAdapter!;
        peft.SetAdapter(adapter);
        try { return peft.Model.call(samples); }
        finally { peft.SetAdapter(active); }
    }

    [Theory]
    [InlineData(LilyRouting.BatchMean, AdapterAttachment.Replace)]
    [InlineData(LilyRouting.BatchMean, AdapterAttachment.Hook)]
    [InlineData(LilyRouting.PerSample, AdapterAttachment.Replace)]
    public void A_mixed_Lily_batch_equals_each_adapters_samples_run_as_their_own_batch(LilyRouting routing, AdapterAttachment mode)
    {
        var (model, peft) = TwoLilyAdapters(routing, mode);
        var x = randn(5, 4, 6);
        string[] names = ["default", "y", "default", Base, "y"];

        Tensor output;
        using (peft.UseAdapterPerSample(names)) output = model.call(x);

        foreach (var adapter in names.Distinct())
        {
            var rows = names.Select((n, i) => (n, i)).Where(p => p.n == adapter).Select(p => (long)p.i).ToArray();
            var index = tensor(rows);
            MaxDiff(output.index_select(0, index), Alone(peft, adapter, x.index_select(0, index)))
                .Should().BeLessThan(1e-5f, $"the samples of '{adapter}' are one sub-batch");
        }
        // The sub-batch is what batch-mean routing averages over: the whole batch with "default" routes differently.
        var wholeBatch = Alone(peft, "default", x);
        bool differs = MaxDiff(output[0], wholeBatch[0]) > 1e-4f;
        differs.Should().Be(routing == LilyRouting.BatchMean);
    }

    [Theory]
    [InlineData(AdapterAttachment.Replace)]
    [InlineData(AdapterAttachment.Hook)]
    public void Grouped_samples_take_slices_and_give_what_interleaved_samples_give(AdapterAttachment mode)
    {
        var (model, peft) = TwoLilyAdapters(LilyRouting.BatchMean, mode);
        var x = randn(6, 4, 6);
        string[] grouped = ["default", "default", "default", "y", "y", Base];
        long[] order = [0, 3, 1, 4, 2, 5];                   // the same samples, interleaved
        var interleavedX = x.index_select(0, tensor(order));
        var interleavedNames = order.Select(i => grouped[i]).ToList();

        Tensor a, b;
        using (peft.UseAdapterPerSample(grouped)) a = model.call(x);
        using (peft.UseAdapterPerSample(interleavedNames)) b = model.call(interleavedX);

        MaxDiff(a.index_select(0, tensor(order)), b).Should().BeLessThan(1e-5f);
        MaxDiff(a[..3], Alone(peft, "default", x[..3])).Should().BeLessThan(1e-5f);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]      // under no_grad DoRA writes into the (gathered or sliced) rows in place
    public void DoRA_adapters_mix_too_and_equal_running_each_sample_alone(bool noGrad)
    {
        manual_seed(12);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "fc1"], R = 2, UseDora = true, InitLoraWeights = LoraInit.Random });
        peft.AddAdapter("plain", new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2, InitLoraWeights = LoraInit.Random });
        foreach (var site in peft.Sites)
            foreach (var layer in site.Adapters.Values.Cast<LoraLinear>().Where(l => l.UseDora))
                TensorData.Set(layer.Magnitude!.Weight, layer.Magnitude.Weight * (rand_like(layer.Magnitude.Weight) + 0.5));
        model.eval();
        var x = randn(3, 4, 6);
        string[] names = ["plain", "default", Base, "default", "default"];
        x = randn(names.Length, 4, 6);

        Tensor output;
        using (noGrad ? no_grad() : null)
        using (peft.UseAdapterPerSample(names))
            output = model.call(x);

        for (int i = 0; i < names.Length; i++)
            MaxDiff(output[i], Alone(peft, names[i], x[i..(i + 1)])[0]).Should().BeLessThan(1e-5f, $"sample {i} ({names[i]})");
    }

    [Fact]
    public void Bad_names_training_mode_merged_adapters_and_wrong_batch_sizes_are_refused()
    {
        var (model, peft) = LoadFixture(AdapterAttachment.Replace);
        var x = randn(4, 5, 16);

        var unknown = () => peft.UseAdapterPerSample(["a", "c", Base, "typo"]);
        unknown.Should().Throw<ArgumentException>().WithMessage("*'c', 'typo'*");

        using (var scope = peft.UseAdapterPerSample(["a", "b", Base]))
        {
            var wrongSize = () => model.call(x);
            wrongSize.Should().Throw<ArgumentException>().WithMessage("*model.layers.0.q_proj*one sample per name*");
        }

        model.train();
        var training = () => peft.UseAdapterPerSample(["a", "b", Base, "a"]);
        training.Should().Throw<InvalidOperationException>().WithMessage("*eval()*");
        model.eval();
        using (peft.UseAdapterPerSample(["a", "b", Base, "a"]))
        {
            model.train();
            var switchedToTraining = () => model.call(x);
            switchedToTraining.Should().Throw<InvalidOperationException>().WithMessage("*training mode*");
            model.eval();
        }

        peft.Merge();
        var merged = () => peft.UseAdapterPerSample(["a", "b", Base, "a"]);
        merged.Should().Throw<InvalidOperationException>().WithMessage("*Unmerge*");
        peft.Unmerge();
    }

    [Fact]
    public void Modules_to_save_are_refused_in_a_mixed_batch()
    {
        manual_seed(13);
        var model = new ToyModel(2, 6, 8, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], ModulesToSave = ["head"] });
        model.eval();
        var act = () => peft.UseAdapterPerSample(["default", Base]);
        act.Should().Throw<NotSupportedException>().WithMessage("*modules to save*head*");
    }

    [Fact]
    public void DisableAdapters_inside_a_mixed_batch_runs_the_base_model()
    {
        var (model, peft) = LoadFixture(AdapterAttachment.Hook);
        var io = SafeTensorsReader.ReadFile(Path.Combine(PeftFixtureNet.Dir("lora_mixed_batch"), "io.safetensors"));
        using (peft.UseAdapterPerSample(["a", "b", Base, "a"]))
        using (peft.DisableAdapters())
            MaxDiff(model.call(io.ToTensor("input")), io.ToTensor("base_output")).Should().BeLessThan(1e-6f);
    }

    [Theory]
    [InlineData("LinearField")]     // hooked
    [InlineData("ModuleField")]     // replaced
    public void A_mixed_batch_runs_on_the_meta_device(string style)
    {
        var meta = new Device(DeviceType.META);
        set_default_device(meta);
        nn.Module<Tensor, Tensor> model;
        try { model = Support.Zoo.Zoo.Create(style); }
        finally { set_default_device(CPU); }
        var peft = PeftModel.Create(model, new LilyConfig { TargetModules = [PeftConfig.AllLinear], R = 2 });
        peft.AddAdapter("dora", new LoraConfig { TargetModules = [PeftConfig.AllLinear], R = 2, UseDora = true });
        model.eval();
        using (peft.UseAdapterPerSample(["dora", "default", Base]))
        {
            var y = model.call(randn(3, 4, Support.Zoo.Zoo.InputDim(style), device: meta));
            y.device.type.Should().Be(DeviceType.META);
            y.shape[0].Should().Be(3);
        }
    }
}
