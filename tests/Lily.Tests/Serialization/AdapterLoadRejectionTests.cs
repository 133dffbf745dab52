using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using Microsoft.Extensions.Logging;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// Bad adapter files are rejected with a message that says what is wrong, and a failed load leaves
/// the model exactly as it was: same module types, same parameters bit for bit, same
/// requires_grad, and still loadable.
/// </summary>
public sealed class AdapterLoadRejectionTests : IDisposable
{
    private const string Router1 = "base_model.model.layers.1.q_proj.lily_router.weight";
    private const string Fc1B = "base_model.model.layers.0.mlp.fc1.lily_B.weight";

    private readonly string root = Directory.CreateTempSubdirectory("lily-reject-").FullName;
    private readonly string good;        // the untouched adapter, PEFT layout
    private readonly string directory;   // a copy each test damages
    private readonly string compact;     // the same adapter, compact layout

    public AdapterLoadRejectionTests()
    {
        manual_seed(21);
        var peft = PeftModel.Create(new ToyModel(2, 4, 6, 3),
            new LilyConfig { TargetModules = ["q_proj", "fc1"], R = 2, StrideA = 2, NumB = 2, ModulesToSave = ["head"] });
        Randomize(peft);
        good = Path.Combine(root, "good");
        directory = Path.Combine(root, "damaged");
        compact = Path.Combine(root, "compact");
        peft.Save(good);
        peft.Save(directory);
        peft.Save(compact, AdapterLayout.Compact);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static ToyModel Fresh()
    {
        manual_seed(22);
        var model = new ToyModel(2, 4, 6, 3);
        // Something to preserve besides the defaults: a frozen layer and eval mode.
        foreach (var p in model.named_parameters().Where(p => p.name.StartsWith("layers.1.k_proj."))) p.parameter.requires_grad = false;
        model.eval();
        return model;
    }

    /// <summary>Loading <paramref name="from"/> fails with <typeparamref name="TException"/> matching <paramref name="message"/>; the model is untouched and loads a good adapter afterwards.</summary>
    private void ShouldReject<TException>(string message, string? from = null, bool strict = true) where TException : Exception
    {
        var model = Fresh();
        var before = ModelSnapshot.Of(model);

        var load = () => PeftModel.Load(model, from ?? directory, strict);

        load.Should().Throw<TException>().WithMessage(message);
        ModelSnapshot.Of(model).ShouldEqual(before);
        PeftModel.Load(model, good).AdaptedModules.Should().HaveCount(4, "a failed load leaves no adapters behind");
    }

    private void EditWeights(Func<List<SafeTensorEntry>, IEnumerable<SafeTensorEntry>> edit, string? dir = null) =>
        Rewrite(WeightsPath(dir ?? directory), edit);

    private void EditConfig(string from, string to)
    {
        var text = File.ReadAllText(ConfigPath(directory));
        text.Should().Contain(from);
        File.WriteAllText(ConfigPath(directory), text.Replace(from, to));
    }

    [Fact]
    public void Missing_key_is_rejected_in_strict_mode()
    {
        EditWeights(entries => entries.Where(e => e.Name != Router1));
        ShouldReject<InvalidDataException>($"*adapter_model.safetensors does not match the adapted model (missing 1 key(s): {Router1})*");
    }

    [Fact]
    public void Unexpected_key_is_rejected_in_strict_mode()
    {
        const string extra = "base_model.model.layers.0.k_proj.lily_A.weight";
        EditWeights(entries => entries.Append(F32(extra, [2, 4], new double[8])));
        ShouldReject<InvalidDataException>($"*(unexpected 1 key(s): {extra})*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Misshaped_tensor_is_rejected_even_when_not_strict(bool strict)
    {
        EditWeights(entries => entries.Select(e => e.Name == Fc1B ? F32(Fc1B, [4, 5], new double[20]) : e));
        ShouldReject<InvalidDataException>($"*1 tensor(s) do not fit the model: {Fc1B}: file has [4, 5], the model needs [4, 6]*", strict: strict);
    }

    [Fact]
    public void Integer_tensor_is_rejected()
    {
        EditWeights(entries => entries.Select(e => e.Name == Router1 ? new SafeTensorEntry(Router1, SafeTensorsDType.I64, [2, 2], new byte[32]) : e));
        ShouldReject<InvalidDataException>($"*{Router1}: file has dtype I64, a floating-point tensor is needed*");
    }

    [Fact]
    public void Missing_files_are_named()
    {
        File.Delete(WeightsPath(directory));
        ShouldReject<FileNotFoundException>("No adapter_model.safetensors in*");
        File.Delete(ConfigPath(directory));
        ShouldReject<FileNotFoundException>("No adapter_config.json in*");
        ShouldReject<FileNotFoundException>("No adapter_config.json in*", from: Path.Combine(root, "no-such-directory"));
    }

    [Fact]
    public void Invalid_config_json_is_rejected()
    {
        File.WriteAllText(ConfigPath(directory), "{ \"peft_type\": \"LILY\", ");
        ShouldReject<InvalidDataException>("*adapter_config.json: not valid JSON*");
    }

    [Fact]
    public void Unknown_peft_type_is_rejected()
    {
        EditConfig("\"LILY\"", "\"IA3\"");
        ShouldReject<InvalidDataException>("*adapter_config.json: peft_type 'IA3' is not supported here (LORA, LILY and CLORA are)*");
    }

    [Fact]
    public void Unsupported_field_is_rejected()
    {
        File.WriteAllText(ConfigPath(directory), """
            {
              "lora_alpha": 16,
              "peft_type": "LORA",
              "r": 8,
              "target_modules": ["q_proj"],
              "lora_bias": true
            }
            """);
        ShouldReject<InvalidDataException>("*adapter_config.json: 'lora_bias' is true, which this library does not support*");
    }

    [Fact]
    public void Config_that_targets_modules_the_model_lacks_is_rejected_as_not_fitting()
    {
        EditConfig("\"q_proj\"", "\"out_proj\"");
        EditConfig("\"fc1\"", "\"fc3\"");
        ShouldReject<InvalidDataException>("*adapter_config.json*No module of the model matches target modules*out_proj*");
    }

    [Fact]
    public void Truncated_weights_file_is_rejected()
    {
        var bytes = File.ReadAllBytes(WeightsPath(directory));
        File.WriteAllBytes(WeightsPath(directory), bytes[..(bytes.Length - 10)]);
        ShouldReject<InvalidDataException>("*adapter_model.safetensors*");
    }

    [Fact]
    public void Shared_map_pointing_to_a_missing_key_is_rejected()
    {
        const string omitted = "base_model.model.layers.1.q_proj.lily_A.weight";
        const string nowhere = "base_model.model.layers.7.q_proj.lily_A.weight";
        Rewrite(WeightsPath(compact), e => e, metadata =>
        {
            metadata["lily.shared"].Should().Contain(omitted);
            metadata["lily.shared"] = metadata["lily.shared"].Replace("\"base_model.model.layers.0.q_proj.lily_A.weight\"", $"\"{nowhere}\"");
        });
        ShouldReject<InvalidDataException>($"*metadata 'lily.shared' maps '{omitted}' to '{nowhere}', which the file does not hold*", from: compact);
    }

    [Fact]
    public void Shared_map_that_is_not_json_is_rejected()
    {
        Rewrite(WeightsPath(compact), e => e, metadata => metadata["lily.shared"] = "[not json");
        ShouldReject<InvalidDataException>("*metadata 'lily.shared' is not a JSON object of key names*", from: compact);
    }

    [Fact]
    public void Compact_file_without_its_shared_map_is_missing_keys()
    {
        Rewrite(WeightsPath(compact), e => e, metadata => metadata.Remove("lily.shared"));
        ShouldReject<InvalidDataException>("*missing 4 key(s)*base_model.model.layers.1.q_proj.lily_A.weight*", from: compact);
    }

    [Fact]
    public void Model_that_already_has_adapters_is_refused()
    {
        var model = Fresh();
        PeftModel.Load(model, good);
        var before = ModelSnapshot.Of(model);

        var load = () => PeftModel.Load(model, good);

        load.Should().Throw<ArgumentException>().WithMessage("*already carries adapters*");
        ModelSnapshot.Of(model).ShouldEqual(before);
    }

    [Fact]
    public void Non_strict_load_tolerates_missing_and_unexpected_keys_and_says_so()
    {
        const string extra = "base_model.model.layers.0.k_proj.lily_A.weight";
        EditWeights(entries => entries.Where(e => e.Name != Router1).Append(F32(extra, [2, 4], new double[8])));
        var model = Fresh();
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));

        var peft = PeftModel.Load(model, directory, strict: false, loggerFactory: factory);

        var file = SafeTensorsReader.ReadFile(WeightsPath(good));
        foreach (var entry in peft.StateDictEntries())
        {
            if (entry.Key == Router1) continue;
            Identical(entry.Parameter, file.ToTensor(entry.Key)).Should().BeTrue($"{entry.Key} is loaded");
        }
        var router = peft.StateDictEntries().Single(e => e.Key == Router1).Parameter;
        Identical(router, file.ToTensor(Router1)).Should().BeFalse("the missing router keeps its fresh initialisation");
        logs.Messages.Should().Contain(m => m.Contains("Keys missing from") && m.Contains(Router1));
        logs.Messages.Should().Contain(m => m.Contains("that the model does not have, ignored") && m.Contains(extra));
    }
}
