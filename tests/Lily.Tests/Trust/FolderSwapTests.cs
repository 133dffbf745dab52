using System.Runtime.InteropServices;
using Lily.Serialization;
using Lily.Tests.Support;
using static TorchSharp.torch;

namespace Lily.Tests.Trust;

/// <summary>
/// Issue 24, item 10: a tool that swaps the whole adapter folder (a symbolic link switched atomically, as
/// deployment tools and the Hugging Face cache's "current" links do) while loads run never makes a load
/// return the config of one folder with the weights of the other.
/// </summary>
public sealed class FolderSwapTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "lily-swap-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    [LinuxFact]
    public void Loads_during_folder_swaps_return_one_folder_or_the_other_never_a_mix()
    {
        // Folder a: a PEFT-written LoRA (no stamp of ours). Folder b: the same with use_rslora and every tensor
        // doubled, also unstamped. Both pairs and both mixes compute four different outputs.
        var source = PeftFixtureNet.Dir("lora_f16_file");
        var folders = new[] { Path.Combine(root, "a"), Path.Combine(root, "b") };
        foreach (var folder in folders)
        {
            Directory.CreateDirectory(folder);
            foreach (var file in new[] { "adapter_config.json", "adapter_model.safetensors" }) File.Copy(Path.Combine(source, file), Path.Combine(folder, file));
        }
        var configB = Path.Combine(folders[1], "adapter_config.json");
        File.WriteAllText(configB, File.ReadAllText(configB).Replace("\"use_rslora\": false", "\"use_rslora\": true", StringComparison.Ordinal));
        File.ReadAllText(configB).Should().Contain("\"use_rslora\": true");
        var weightsB = Path.Combine(folders[1], PeftModel.WeightsFileName);
        var doubled = Lily.Serialization.SafeTensorsReader.ReadFile(weightsB).ReadTensors().ToDictionary(kv => kv.Key, kv => kv.Value * 2);
        Lily.Serialization.SafeTensorsWriter.Save(weightsB, doubled);
        var input = PeftFixtureNet.LoadIo(source).Input;
        var expected = folders.Select(folder =>
        {
            var model = PeftFixtureNet.LoadBase(source);
            PeftModel.Load(model, folder);
            using (no_grad()) return model.call(input);
        }).ToArray();
        (expected[0] - expected[1]).abs().max().item<float>().Should().BeGreaterThan(1e-3f);
        var current = Path.Combine(root, "current");
        File.CreateSymbolicLink(current, folders[0]);

        using var stop = new CancellationTokenSource();
        Exception? swapFailure = null;
        var swapper = new Thread(() =>
        {
            try
            {
                int i = 0;
                var next = Path.Combine(root, "next");
                while (!stop.IsCancellationRequested)
                {
                    File.CreateSymbolicLink(next, folders[++i % 2]);
                    if (Native.rename(next, current) != 0) throw new IOException($"rename failed: errno {Marshal.GetLastPInvokeError()}");
                    Thread.Sleep(1);    // a swap about every millisecond: often inside a load, and loads still get through
                }
            }
            catch (Exception e)
            {
                swapFailure = e;
            }
        });
        swapper.Start();
        int mixed = 0, loads = 0;
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(8) && loads < 200)
            {
                using var scope = NewDisposeScope();
                var model = PeftFixtureNet.LoadBase(source);
                PeftModel.Load(model, current);
                loads++;
                Tensor output;
                using (no_grad()) output = model.call(input);
                if (!expected.Any(e => (output - e).abs().max().item<float>() < 1e-5f)) mixed++;
            }
        }
        finally
        {
            stop.Cancel();
            swapper.Join();
        }
        swapFailure.Should().BeNull();
        loads.Should().BeGreaterThan(10);
        mixed.Should().Be(0, $"every one of {loads} loads must be one folder's pair");
    }

    // rename(2) replaces the link atomically (File.Move follows a link to a folder and refuses it).
    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int rename([MarshalAs(UnmanagedType.LPUTF8Str)] string from, [MarshalAs(UnmanagedType.LPUTF8Str)] string to);
    }
}
