using System.Reflection;
using System.Text;
using Lily.Native;

namespace Lily.Tests.Native;

/// <summary>
/// The runtime half of the Debian 12 load fix: finding TorchSharp's natives in a NuGet cache layout and
/// the ELF edit the build task shares. The end-to-end proof is CI executing the notebooks on Debian 12.
/// </summary>
public sealed class NativeLoaderTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("lily-native-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private string Touch(params string[] parts)
    {
        var path = Path.Combine([root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        return path;
    }

    private void FakeCache(string libtorchVersion = "2.10.0")
    {
        Touch("torchsharp", "0.107.0", "lib", "net8.0", "TorchSharp.dll");
        Touch("torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        foreach (var lib in new[] { "libtorch.so", "libtorch_cpu.so", "libc10.so", "libgomp-98b21ff3.so.1", "libtorch_python.so" })
            Touch("libtorch-cpu-linux-x64", libtorchVersion, "runtimes", "linux-x64", "native", lib);
    }

    private string AssemblyDir => Path.Combine(root, "torchsharp", "0.107.0", "lib", "net8.0");

    [Fact]
    public void Finds_the_package_natives_and_orders_libtorch_by_dependency()
    {
        FakeCache();
        var layout = PackageLayout.Find(AssemblyDir, "2.10.0.0");

        layout.Should().NotBeNull();
        layout!.TorchSharpVersion.Should().Be("0.107.0");
        layout.LibTorchSharp.Should().Be(Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"));
        layout.LibtorchInLoadOrder().Select(Path.GetFileName).Should().Equal(
            "libgomp-98b21ff3.so.1", "libc10.so", "libtorch_cpu.so", "libtorch.so");
    }

    [Fact]
    public void Takes_the_libtorch_version_TorchSharp_names_among_several_restored()
    {
        FakeCache("2.10.0");
        FakeCache("2.7.1");
        PackageLayout.Find(AssemblyDir, "2.7.1.0")!.LibtorchDirectory.Should().Contain(Path.Combine("2.7.1", "runtimes"));
        PackageLayout.Find(AssemblyDir, null).Should().BeNull("with two versions restored and none named, guessing could mix libtorch builds");
    }

    [Fact]
    public void Leaves_an_application_output_folder_and_a_cache_without_libtorch_cpu_alone()
    {
        var app = Path.GetDirectoryName(Touch("app", "TorchSharp.dll"))!;
        Touch("app", "libLibTorchSharp.so");
        PackageLayout.Find(app, "2.10.0.0").Should().BeNull("the build's fix prepares an output folder");

        Touch("torchsharp", "0.107.0", "lib", "net8.0", "TorchSharp.dll");
        Touch("torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        PackageLayout.Find(AssemblyDir, "2.10.0.0").Should().BeNull("a CUDA setup has no libtorch-cpu package");
    }

    [Fact]
    public void Weakens_TorchSharps_GLIBCXX_need_once_and_only_that_entry()
    {
        // The package's own copy: restoring this test project put it in the NuGet cache.
        var version = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        var original = Path.Combine(NuGetPackages(), "torchsharp", version, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var elf = File.ReadAllBytes(original);
        var before = (byte[])elf.Clone();

        ElfVersionNeed.Weaken(elf, TorchSharpNativeLoader.GlibcxxVersion, out bool changed).Should().BeNull();
        changed.Should().BeTrue("the package's copy records a hard need");
        elf.Zip(before).Count(p => p.First != p.Second).Should().Be(1, "one flag byte of one vernaux entry changes");
        ElfVersionNeed.Weaken(elf, TorchSharpNativeLoader.GlibcxxVersion, out changed).Should().BeNull();
        changed.Should().BeFalse("a weak need stays as it is");
        ElfVersionNeed.Weaken(elf, "GLIBCXX_9.9.9", out _).Should().Contain("no version-need named GLIBCXX_9.9.9");
    }

    [Fact]
    public void Refuses_what_is_not_an_ELF_file()
    {
        ElfVersionNeed.Weaken(Encoding.ASCII.GetBytes(new string('x', 100)), "GLIBCXX_3.4.32", out bool changed).Should().Be("not an ELF file");
        changed.Should().BeFalse();
    }

    [Fact]
    public void Prepare_is_a_no_op_for_an_application_whose_natives_sit_in_its_output_folder()
    {
        // The test host is such an application: TorchSharp.dll and libLibTorchSharp.so share bin/.
        var said = TorchSharpNativeLoader.Prepare();
        if (OperatingSystem.IsLinux())
            said.Should().ContainAny("already loaded", "build's fix covers this layout");
        else
            said.Should().StartWith("Not Linux");
    }

    private static string NuGetPackages() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
