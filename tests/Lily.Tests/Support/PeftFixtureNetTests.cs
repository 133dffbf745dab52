using static TorchSharp.torch;

namespace Lily.Tests.Support;

public class PeftFixtureNetTests
{
    public static IEnumerable<object[]> Fixtures() => PeftFixtureNet.Fixtures();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Loaded_base_net_reproduces_the_PyTorch_base_output(string fixture)
    {
        var dir = PeftFixtureNet.Dir(fixture);
        using var net = PeftFixtureNet.LoadBase(dir);
        var (input, baseOutput, expected) = PeftFixtureNet.LoadIo(dir);
        using (input) using (baseOutput) using (expected)
        {
            input.shape.Should().Equal(3, 5, 16);
            using var y = net.call(input);
            y.allclose(baseOutput, rtol: 0, atol: 1e-5).Should().BeTrue($"max difference {(y - baseOutput).abs().max().item<float>()}");
            // The adapter changes the output, so the fixture's expected value is not the base output.
            expected.allclose(baseOutput, rtol: 0, atol: 1e-3).Should().BeFalse();
        }
    }

    [Fact]
    public void Parameter_names_match_the_PyTorch_model()
    {
        using var net = new PeftFixtureNet();
        var names = net.named_parameters().Select(p => p.name).ToList();
        names.Should().HaveCount(32);
        names.Should().StartWith(["model.layers.0.q_proj.weight", "model.layers.0.q_proj.bias", "model.layers.0.v_proj.weight"]);
        names.Should().Contain("model.layers.3.fc2.bias");
    }

    [Fact]
    public void Every_fixture_folder_is_in_the_output()
    {
        foreach (var name in PeftFixtureNet.Names)
        {
            var dir = PeftFixtureNet.Dir(name);
            Directory.GetFiles(dir).Select(Path.GetFileName).Should().BeEquivalentTo(
                "adapter_config.json", "adapter_model.safetensors", "base.safetensors", "io.safetensors");
        }
    }

    [Fact]
    public void LoadBase_rejects_a_file_with_other_names()
    {
        var dir = Directory.CreateTempSubdirectory("lily-fixture-").FullName;
        try
        {
            // adapter_model.safetensors holds adapter tensors only, none of the base names.
            File.Copy(Path.Combine(PeftFixtureNet.Dir("lily"), "adapter_model.safetensors"), Path.Combine(dir, "base.safetensors"));
            var act = () => PeftFixtureNet.LoadBase(dir);
            act.Should().Throw<InvalidDataException>().WithMessage("*model.layers.0.q_proj.weight*");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
