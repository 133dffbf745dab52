using Lily.Injection;
using Lily.Planning;
using Lily.Tests.Support.Zoo;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// What a user gets instead of a raw libtorch error or silence: the meta device on save and load,
/// targets inside TorchSharp's native layers, entries that match nothing, ranks above a layer's size,
/// saving with no adapter, and a budget match that prints its values.
/// </summary>
public sealed class ClearRefusalTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-refusal-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Save_of_a_model_on_the_meta_device_is_refused_and_writes_nothing()
    {
        var model = Zoo.Create("ModuleField");
        model.to(META);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        var save = () => peft.Save(directory);
        save.Should().Throw<InvalidOperationException>().WithMessage("*meta device*nothing was written*");
        Directory.Exists(directory).Should().BeFalse();
    }

    [Fact]
    public void Load_into_a_model_on_the_meta_device_is_refused_and_leaves_it_alone()
    {
        manual_seed(31);
        var source = Zoo.Create("ModuleField");
        PeftModel.Create(source, new LoraConfig { TargetModules = ["q_proj"], R = 2 }).Save(directory);

        var model = Zoo.Create("ModuleField");
        model.to(META);
        var load = () => PeftModel.Load(model, directory);
        load.Should().Throw<InvalidOperationException>().WithMessage("*meta device*no weights can be loaded*");
        ModuleTree.CarriesAdapters(model).Should().BeFalse();
    }

    private sealed class NativeAttentionModel : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.MultiheadAttention attn;
        private readonly TorchSharp.Modules.Linear head;

        public NativeAttentionModel() : base(nameof(NativeAttentionModel))
        {
            attn = nn.MultiheadAttention(8, 2);
            head = nn.Linear(8, 3);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.call(attn.call(x, x, x, null, false, null).Item1);
    }

    // Written as a newcomer might: the layers are fields, but the constructor never calls RegisterComponents().
    private sealed class UnregisteredModel : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear fc1;
        private readonly TorchSharp.Modules.Linear head;

        public UnregisteredModel(bool register) : base(nameof(UnregisteredModel))
        {
            fc1 = nn.Linear(8, 8);
            head = nn.Linear(8, 3);
            if (register) RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.call(fc1.call(x));
    }

    [Fact]
    public void A_model_that_never_registered_its_layers_is_told_to_call_RegisterComponents()
    {
        var create = () => PeftModel.Create(new UnregisteredModel(register: false), new LoraConfig { TargetModules = ["fc1"], R = 2 });
        create.Should().Throw<ArgumentException>()
            .WithMessage("*No module of the model matches*UnregisteredModel.fc1 (Linear), UnregisteredModel.head (Linear)*Call RegisterComponents() at the end of the constructor of UnregisteredModel*");
    }

    [Fact]
    public void A_registered_model_that_matches_nothing_gets_no_registration_hint()
    {
        var create = () => PeftModel.Create(new UnregisteredModel(register: true), new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        create.Should().Throw<ArgumentException>().WithMessage("*Its Linear layers are: fc1, head*")
            .Which.Message.Should().NotContain("RegisterComponents");
    }

    [Fact]
    public void Targets_inside_native_attention_name_it_and_point_to_a_hand_written_block()
    {
        var model = new NativeAttentionModel();
        var create = () => PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 2 });
        create.Should().Throw<ArgumentException>().WithMessage("*No module of the model matches*'attn' (MultiheadAttention)*not Linear layers*Write those blocks with Linear layers*");
    }

    [Fact]
    public void A_target_entry_that_matches_nothing_while_others_match_is_a_warning_naming_it()
    {
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var model = Zoo.Create("ModuleField");
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "q_porj"], R = 2 }, factory);
        peft.AdaptedModules.Should().HaveCount(Zoo.Depth);
        logs.Messages.Should().ContainSingle(m => m.Contains("'q_porj' match no module")).Which.Should().NotContain("'q_proj'");
    }

    [Fact]
    public void A_lora_rank_above_a_layers_size_is_a_warning_with_the_effective_rank()
    {
        using var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var model = new ToyModel(1, 6, 4, 3);   // q_proj 6→6, fc1 6→4
        PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj", "fc1"], R = 5 }, factory);
        logs.Messages.Should().ContainSingle(m => m.Contains("exceeds min(in, out)"))
            .Which.Should().Contain("fc1 (r = 5, effective rank ≤ 4)").And.NotContain("q_proj");
    }

    [Fact]
    public void Save_with_no_adapter_is_an_error()
    {
        var model = Zoo.Create("ModuleField");
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        peft.DeleteAdapter(PeftModel<nn.Module<Tensor, Tensor>>.DefaultAdapterName);
        var save = () => peft.Save(directory);
        save.Should().Throw<InvalidOperationException>().WithMessage("*no adapter to save*");
        Directory.Exists(directory).Should().BeFalse();
    }

    [Fact]
    public void A_budget_match_prints_its_values()
    {
        var model = new ToyModel(2, 16, 32, 3);
        var match = BudgetMatcher.Match(model, new LoraConfig { TargetModules = ["q_proj"], R = 1 }, budget: 130);
        var text = match.ToString();
        text.Should().StartWith("LORA (").And.Contain($"r = {((LoraConfig)match.Config).R}").And.Contain($"{match.Trainable:N0} trainable for a budget of 130");
        text.Should().NotContain("System.Collections");
    }
}
