using Lily.Tests.Support;
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
