using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>Issue 24, item 11: a load never needs write access, and never names the lock file.</summary>
public sealed class ReadOnlyLoadTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "lily-readonly-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        var lockPath = Path.Combine(directory, ".lily-lock");
        if (OperatingSystem.IsLinux() && File.Exists(lockPath)) File.SetUnixFileMode(lockPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }

    [UnprivilegedLinuxFact]
    public void An_unreadable_lock_file_does_not_stop_a_load()
    {
        var (expected, x) = SaveOne();
        var lockPath = Path.Combine(directory, ".lily-lock");
        File.Exists(lockPath).Should().BeTrue("the save leaves its lock file");
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(lockPath, UnixFileMode.None);    // another user's umask
        var model = new ToyModel(1, 6, 4, 3);
        PeftModel.Load(model, directory);
        using (no_grad()) model.call(x).allclose(expected, atol: 1e-6).Should().BeTrue();
    }

    /// <summary>The same as root, in a child process that drops to the user nobody before it loads: CI runs as root.</summary>
    [Fact]
    public async Task An_unreadable_lock_file_does_not_stop_a_load_by_another_user()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") return;   // the test above covers ordinary users
        var (expected, x) = SaveOne();
        // Another user may read the folder and the pair, but not the lock (its owner's umask 077).
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        foreach (var file in Directory.GetFiles(directory)) File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(Path.Combine(directory, ".lily-lock"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(Path.Combine(directory, "input.txt"), string.Join(' ', x.data<float>().ToArray().Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        File.SetUnixFileMode(Path.Combine(directory, "input.txt"), (UnixFileMode)0b110_100_100);

        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "exec", typeof(Program).Assembly.Location, "load-unprivileged", directory }) start.ArgumentList.Add(arg);
        start.Environment["HOME"] = Path.GetTempPath();
        using var child = System.Diagnostics.Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var errors = child.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await child.WaitForExitAsync(limit.Token);
        string stdout = await output, report = stdout + await errors;
        child.ExitCode.Should().Be(0, $"a user who cannot read the lock can still load the pair; the child said:\n{report}");
        var values = stdout.Trim().Split(' ').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        // The child runs one torch thread, so the last bit may differ; an adapter not loaded would differ by far more.
        var want = expected.data<float>().ToArray();
        values.Should().HaveCount(want.Length);
        values.Zip(want, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-5f, "the child loaded the saved adapter");
    }

    /// <summary>The child's side: become nobody, check the lock is unreadable to us, load, print the output.</summary>
    internal static int LoadAsNobody(string folder)
    {
        Unprivileged.Become();
        try
        {
            File.ReadAllBytes(Path.Combine(folder, ".lily-lock"));
            Console.Error.WriteLine("the lock file is readable by nobody: the test proves nothing");
            return 3;
        }
        catch (UnauthorizedAccessException)
        {
        }
        var x = tensor(File.ReadAllText(Path.Combine(folder, "input.txt")).Split(' ').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).reshape(2, 6);
        manual_seed(51);   // the base weights SaveOne's model had
        var model = new ToyModel(1, 6, 4, 3);
        PeftModel.Load(model, folder);
        using (no_grad()) Console.WriteLine(string.Join(' ', model.call(x).data<float>().ToArray().Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        return 0;
    }

    [Fact]
    public void A_missing_folder_names_the_adapter_not_the_lock()
    {
        var load = () => PeftModel.Load(new ToyModel(1, 6, 4, 3), directory);
        load.Should().Throw<IOException>().Which.Message.Should().Contain("adapter_config.json").And.NotContain(".lily-lock");
    }

    private (Tensor Expected, Tensor X) SaveOne()
    {
        manual_seed(51);
        var model = new ToyModel(1, 6, 4, 3);
        var peft = PeftModel.Create(model, new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        Injection.BypassZoo.GiveUpdates(peft);
        peft.Save(directory, verifyApplied: false);
        var x = randn(2, 6);
        using (no_grad()) return (model.call(x), x);
    }
}
