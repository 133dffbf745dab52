using System.Diagnostics;
using Lily.Tests.Support;

namespace Lily.Tests.Samples;

/// <summary>
/// The Fashion-MNIST sample's command line, run as a process (no test project references a sample): it offers
/// the user-facing options only, and refuses a bad device before it loads anything. The <c>--quick</c> rule it
/// shares with the experiments is tested on their command line (Experiments/ExperimentCommandLineTests); CI runs
/// the sample itself.
/// </summary>
public class FashionMnistSampleTests
{
    private static (int ExitCode, string Output) Run(params string[] args)
    {
        // The sample is built by the solution's build, in this test assembly's configuration.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        string dll = Path.Combine(RepositoryPaths.Root(), "samples", "Lily.Samples.FashionMnist", "bin", configuration, "net10.0", "Lily.Samples.FashionMnist.dll");
        File.Exists(dll).Should().BeTrue($"the sample is built with the solution ({dll}); build Lily.sln first");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    [Fact]
    public void Help_lists_the_user_facing_options_only()
    {
        var (exitCode, output) = Run("--help");
        exitCode.Should().Be(0);
        foreach (var option in new[] { "--quick", "--seeds", "--lora-rank", "--lily-stride", "--train-samples", "--output" })
            output.Should().Contain(option);
        foreach (var research in new[] { "--sweep", "--deploy", "--data-parallel", "--compare-routing", "--tune-lr" })
            output.Should().NotContain(research, "the research runs are experiments/Lily.Experiments'");
    }

    [Fact]
    public void A_bad_device_is_refused_with_exit_code_2()
    {
        var (exitCode, output) = Run("--device", "tpu", "--quick");
        exitCode.Should().Be(2);
        output.Should().Contain("--device must be cpu or cuda");
    }
}
