using System.Diagnostics;
using Lily.Tuners;

namespace Lily.Tests.Tuners;

/// <summary>
/// The built-in methods register themselves from their own folders when the library loads (module
/// initializers), so the registry names none of them. A test process has long touched every method
/// before a test runs, so the promise is checked in a new process whose first call into the library
/// reads adapter files written by PEFT.
/// </summary>
public sealed class BuiltInRegistrationTests
{
    [Fact]
    public void A_fresh_process_reads_every_built_in_methods_files_as_its_first_call()
    {
        string root = Directory.CreateTempSubdirectory("lily-first-").FullName;
        try
        {
            // LoRA and Lily as PEFT wrote them; CLoRA (not in PEFT) and an unknown type written by hand.
            string clora = Directory.CreateDirectory(Path.Combine(root, "clora")).FullName;
            File.WriteAllText(Path.Combine(clora, "adapter_config.json"), """{"peft_type": "CLORA", "target_modules": ["q"], "r": 2}""");
            string unknown = Directory.CreateDirectory(Path.Combine(root, "ia3")).FullName;
            File.WriteAllText(Path.Combine(unknown, "adapter_config.json"), """{"peft_type": "IA3", "target_modules": ["q"]}""");
            string[] folders = [Support.PeftFixtureNet.Dir("lora_dora"), Support.PeftFixtureNet.Dir("lily"), clora, unknown];

            var (exitCode, output) = Run(["read-configs-first", .. folders]);

            exitCode.Should().Be(0, output);
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(
                "LORA", "LILY", "CLORA",
                // The built-in methods, listed in PEFT's order whatever order their folders registered in.
                $"error: {Path.Combine(unknown, "adapter_config.json")}: peft_type 'IA3' is not supported here (LORA, LILY and CLORA are). Other methods can be added with PeftMethods.Register.");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The child's side (see Program): nothing of the library runs before the first read.</summary>
    public static int ReadConfigsFirst(IEnumerable<string> folders)
    {
        foreach (var folder in folders)
        {
            try
            {
                Console.WriteLine(PeftModel.LoadConfig(folder).PeftType);
            }
            catch (InvalidDataException e)
            {
                Console.WriteLine("error: " + e.Message);
            }
        }
        return 0;
    }

    private static (int ExitCode, string Output) Run(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "exec", typeof(Program).Assembly.Location }.Concat(args)) start.ArgumentList.Add(arg);
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var errors = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            child.Kill();
            throw new TimeoutException("The child process did not stop within 60 s.");
        }
        return (child.ExitCode, (output.Result + errors.Result).ReplaceLineEndings("\n"));
    }
}
