using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>A save that fails leaves the previous adapter's files byte-identical, and never a half pair.</summary>
public sealed class AdapterAtomicSaveTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("lily-adapter-atomic-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>A module with a complex parameter: safetensors cannot store it, so saving it fails.</summary>
    private sealed class ComplexScale : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Parameter scale;

        public ComplexScale() : base(nameof(ComplexScale))
        {
            scale = new TorchSharp.Modules.Parameter(zeros(2, dtype: ScalarType.ComplexFloat32));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => x;
    }

    private sealed class Model : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> proj = nn.Linear(4, 4);
        private readonly ComplexScale extra = new();

        public Model() : base(nameof(Model)) => RegisterComponents();

        public override Tensor forward(Tensor x) => extra.call(proj.call(x));
    }

    /// <summary>Saves a first adapter and returns its two files' bytes.</summary>
    private (byte[] Weights, byte[] Config) SavePrevious()
    {
        manual_seed(31);
        var first = PeftModel.Create(new Model(), new LoraConfig { TargetModules = ["proj"], R = 2 });
        Randomize(first);
        first.Save(directory);
        return (File.ReadAllBytes(WeightsPath(directory)), File.ReadAllBytes(ConfigPath(directory)));
    }

    /// <summary>A second, different adapter (other rank and values).</summary>
    private static PeftModel<Model> Second(IReadOnlyList<string>? modulesToSave = null)
    {
        manual_seed(32);
        var second = PeftModel.Create(new Model(), new LoraConfig { TargetModules = ["proj"], R = 3, ModulesToSave = modulesToSave });
        Randomize(second);
        return second;
    }

    private void OnlyTheseEntries(params string[] names) =>
        Directory.GetFileSystemEntries(directory).Select(Path.GetFileName).Where(n => n != ".lily-lock")
            .Should().BeEquivalentTo(names, "no temporary file may remain (the writers' lock file stays)");

    [Fact]
    public void Tensor_that_cannot_be_written_leaves_both_previous_files()
    {
        var (weights, config) = SavePrevious();

        var save = () => Second(modulesToSave: ["extra"]).Save(directory);

        save.Should().Throw<NotSupportedException>().WithMessage("*base_model.model.extra.scale*");
        File.ReadAllBytes(WeightsPath(directory)).Should().Equal(weights);
        File.ReadAllBytes(ConfigPath(directory)).Should().Equal(config, "the config must not be replaced when the weights could not be");
        OnlyTheseEntries("adapter_model.safetensors", "adapter_config.json");
    }

    [Fact]
    public void Config_that_cannot_be_written_leaves_the_previous_weights()
    {
        var (weights, _) = SavePrevious();
        File.Delete(ConfigPath(directory));
        Directory.CreateDirectory(ConfigPath(directory));     // the config's path is taken: its write fails

        var save = () => Second().Save(directory);

        save.Should().Throw<IOException>().WithMessage("*adapter_config.json*");
        File.ReadAllBytes(WeightsPath(directory)).Should().Equal(weights, "new weights with the old (here: no) config would be a mismatched pair");
        OnlyTheseEntries("adapter_model.safetensors", "adapter_config.json");
    }

    [Fact]
    public void Weights_that_cannot_be_written_leave_the_previous_config()
    {
        var (_, config) = SavePrevious();
        File.Delete(WeightsPath(directory));
        Directory.CreateDirectory(WeightsPath(directory));

        var save = () => Second().Save(directory);

        save.Should().Throw<IOException>().WithMessage("*adapter_model.safetensors*");
        File.ReadAllBytes(ConfigPath(directory)).Should().Equal(config);
        OnlyTheseEntries("adapter_model.safetensors", "adapter_config.json");
    }

    [Fact]
    public void Successful_save_replaces_both_files_and_leaves_no_temporary_file()
    {
        var (weights, config) = SavePrevious();
        var second = Second();

        second.Save(directory);

        File.ReadAllBytes(WeightsPath(directory)).Should().NotEqual(weights);
        File.ReadAllText(ConfigPath(directory)).Should().Contain("\"r\": 3");
        OnlyTheseEntries("adapter_model.safetensors", "adapter_config.json");
        var loaded = PeftModel.Load(new Model(), directory);
        ((LoraLinear)loaded.AdaptedModules.Single().Layer).LoraB.weight!.shape.Should().Equal([4, 3]);
    }
}
