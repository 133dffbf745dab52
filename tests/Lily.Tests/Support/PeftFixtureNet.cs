using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>
/// The C# twin of the PyTorch model behind the adapter files in Fixtures/peft (see its README.md):
/// Net → model: Decoder → layers: 4 blocks, parameters <c>model.layers.{i}.{q_proj,v_proj,fc1,fc2}.{weight,bias}</c>.
/// </summary>
public sealed class PeftFixtureNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Input and output features.</summary>
    public const long Dim = 16;

    /// <summary>fc1's output features.</summary>
    public const long Hidden = 32;

    /// <summary>Number of blocks.</summary>
    public const int Depth = 4;

    /// <summary>The fixture folder names, one per PEFT configuration.</summary>
    public static readonly IReadOnlyList<string> Names = ["lily", "lily_layers", "lily_mts", "lora_exclude", "lora_f16_file", "lora_rslora", "lora_dora"];

    private nn.Module<Tensor, Tensor> model;

    /// <summary>Creates the net with TorchSharp's default initialisation; see <see cref="LoadBase"/> for the fixture's weights.</summary>
    public PeftFixtureNet() : base(nameof(PeftFixtureNet))
    {
        model = new PeftFixtureDecoder(Depth);
        RegisterComponents();
    }

    /// <summary>Net(x) = model(x).</summary>
    public override Tensor forward(Tensor x) => model.call(x);

    /// <summary>The output folder's copy of fixture <paramref name="name"/>: <c>Fixtures/peft/&lt;name&gt;</c>.</summary>
    /// <param name="name">A folder name, e.g. "lily" (see <see cref="Names"/>).</param>
    /// <exception cref="DirectoryNotFoundException">The folder was not copied to the output.</exception>
    public static string Dir(string name)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "peft", name);
        return Directory.Exists(dir) ? dir : throw new DirectoryNotFoundException($"No PEFT fixture folder '{dir}'.");
    }

    /// <summary>The fixture names, one per row, for xunit's MemberData.</summary>
    public static IEnumerable<object[]> Fixtures() => Names.Select(n => new object[] { n });

    /// <summary>A net holding the base weights of <c>base.safetensors</c> in <paramref name="fixtureDir"/>.</summary>
    /// <param name="fixtureDir">A fixture folder, e.g. from <see cref="Dir"/>.</param>
    /// <exception cref="InvalidDataException">The file's names differ from the net's parameter names, or a shape differs.</exception>
    public static PeftFixtureNet LoadBase(string fixtureDir)
    {
        var net = new PeftFixtureNet();
        var loaded = SafeTensorsReader.ReadFile(Path.Combine(fixtureDir, "base.safetensors")).ReadTensors();
        try
        {
            var parameters = net.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var missing = parameters.Keys.Except(loaded.Keys).ToList();
            var extra = loaded.Keys.Except(parameters.Keys).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new InvalidDataException($"{fixtureDir}: base.safetensors lacks [{string.Join(", ", missing)}] and has extra [{string.Join(", ", extra)}].");
            using (no_grad())
            {
                foreach (var (name, parameter) in parameters)
                {
                    var value = loaded[name];
                    if (!value.shape.SequenceEqual(parameter.shape))
                        throw new InvalidDataException($"{fixtureDir}: '{name}' is [{string.Join(", ", value.shape)}], the net's is [{string.Join(", ", parameter.shape)}].");
                    parameter.copy_(value);
                }
            }
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }

    /// <summary>
    /// <c>io.safetensors</c> of <paramref name="fixtureDir"/>: the input [3, 5, 16], the base model's output, and
    /// PEFT's output with the adapter (eval mode, float32).
    /// </summary>
    /// <param name="fixtureDir">A fixture folder, e.g. from <see cref="Dir"/>.</param>
    public static (Tensor Input, Tensor BaseOutput, Tensor Expected) LoadIo(string fixtureDir)
    {
        var io = SafeTensorsReader.ReadFile(Path.Combine(fixtureDir, "io.safetensors"));
        return (io.ToTensor("input"), io.ToTensor("base_output"), io.ToTensor("expected"));
    }

    /// <summary>One named tensor of <c>io.safetensors</c> in <paramref name="fixtureDir"/>, e.g. <c>expected_other</c>.</summary>
    /// <param name="fixtureDir">A fixture folder, e.g. from <see cref="Dir"/>.</param>
    /// <param name="name">The tensor's name in the file.</param>
    public static Tensor LoadIo(string fixtureDir, string name) =>
        SafeTensorsReader.ReadFile(Path.Combine(fixtureDir, "io.safetensors")).ToTensor(name);
}
