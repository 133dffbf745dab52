using System.Runtime.InteropServices;
using System.Text;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>
/// Odd or hostile entries in an adapter folder: FIFOs where files are expected (a regression must fail, not hang:
/// every call runs under a time limit), symbolic links that lead out of the folder (sentinel files outside must stay
/// untouched), an oversized or malformed commit record.
/// </summary>
public sealed class HostileAdapterEntriesTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private const string Record = ".lily-commit.json";
    private const string PendingConfig = ".adapter_config.json.0123456789abcdef0123456789abcdef.lily-pending";

    private readonly string root = Directory.CreateTempSubdirectory("lily-hostile-").FullName;
    private readonly string directory;
    private readonly string outside;

    public HostileAdapterEntriesTests()
    {
        directory = Path.Combine(root, "adapter");
        outside = Path.Combine(root, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "sentinel.txt"), "do not touch");
        // Named like a pending file, so a cleanup that follows a link into this folder would delete it.
        File.WriteAllText(Path.Combine(outside, PendingConfig), "outside pending");
        torch.manual_seed(1);
        Model().Save(directory);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static PeftModel<ToyModel> Model(string? second = null)
    {
        var peft = PeftModel.Create(new ToyModel(1, 4, 8, 2), new LoraConfig { TargetModules = ["q_proj"], R = 2 });
        if (second is not null) peft.AddAdapter(second, new LoraConfig { TargetModules = ["v_proj"], R = 2 });
        return peft;
    }

    private Dictionary<string, byte[]> Outside() =>
        Directory.GetFiles(outside).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);

    private void OutsideIsUntouched(Dictionary<string, byte[]> before)
    {
        var after = Outside();
        after.Keys.Should().BeEquivalentTo(before.Keys, "nothing outside the adapter folder may be created or deleted");
        foreach (var (name, bytes) in before) after[name].Should().Equal(bytes, $"{name} outside the folder must not change");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    private static void MakeFifo(string path)
    {
        if (File.Exists(path)) File.Delete(path);
        mkfifo(path, Convert.ToUInt32("644", 8)).Should().Be(0, $"mkfifo {path} (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Runs <paramref name="action"/> on another thread; a hang fails the test instead of the suite.</summary>
    private static async Task<Exception?> Within(Action action)
    {
        var run = Task.Run(() =>
        {
            try
            {
                action();
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        });
        var finished = await Task.WhenAny(run, Task.Delay(Limit));
        finished.Should().BeSameAs(run, $"the call must not block (it ran longer than {Limit.TotalSeconds} s)");
        return await run;
    }

    private byte[] ConfigBytes() => File.ReadAllBytes(Path.Combine(directory, AdapterConfigFile.FileName));

    [LinuxFact]
    public async Task Fifo_as_the_commit_record_is_refused_without_blocking()
    {
        MakeFifo(Path.Combine(directory, Record));

        var load = await Within(() => PeftModel.LoadConfig(directory));
        var save = await Within(() => Model().Save(directory));

        load.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(Record).And.Contain("FIFO");
        save.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(Record).And.Contain("FIFO");
    }

    [LinuxFact]
    public async Task Fifo_as_the_config_is_refused_by_load_and_replaced_by_save()
    {
        MakeFifo(Path.Combine(directory, AdapterConfigFile.FileName));

        var loadConfig = await Within(() => PeftModel.LoadConfig(directory));
        var loadAdapter = await Within(() => Model().LoadAdapter(directory, "x"));

        loadConfig.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(AdapterConfigFile.FileName).And.Contain("FIFO");
        loadAdapter.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(AdapterConfigFile.FileName);
        (await Within(() => Model().Save(directory))).Should().BeNull("a save replaces the FIFO by a regular file");
        (await Within(() => PeftModel.LoadConfig(directory))).Should().BeNull();
    }

    [LinuxFact]
    public async Task Fifo_as_a_pending_file_named_by_a_record_is_refused_without_blocking()
    {
        var crashed = () => Model().SaveWithFaultHook(directory, AdapterLayout.Peft, (_, step) => { if (step == "committed") throw new InvalidOperationException("crash"); });
        crashed.Should().Throw<InvalidOperationException>();
        var pending = Directory.GetFiles(directory, ".adapter_model.safetensors.*.lily-pending").Single();
        MakeFifo(pending);

        var load = await Within(() => Model().LoadAdapter(directory, "x"));
        var save = await Within(() => Model().Save(directory));

        load.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(pending).And.Contain("FIFO");
        save.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain(pending).And.Contain("FIFO");
    }

    [LinuxFact]
    public void Symlinked_adapter_folder_is_refused_and_the_outside_is_untouched()
    {
        var before = Outside();
        File.CreateSymbolicLink(Path.Combine(directory, "other"), outside);
        var config = ConfigBytes();

        var save = () => Model("other").Save(directory);

        save.Should().Throw<IOException>().WithMessage($"*'{Path.Combine(directory, "other")}'*symbolic link*Nothing was written*");
        OutsideIsUntouched(before);
        ConfigBytes().Should().Equal(config, "the default adapter's pair must not be replaced either");
    }

    [LinuxFact]
    public void Pending_link_to_an_outside_file_with_the_right_hash_is_not_installed()
    {
        var crashed = () => Model().SaveWithFaultHook(directory, AdapterLayout.Peft, (_, step) => { if (step == "committed") throw new InvalidOperationException("crash"); });
        crashed.Should().Throw<InvalidOperationException>();
        var pending = Directory.GetFiles(directory, ".adapter_model.safetensors.*.lily-pending").Single();
        var copy = Path.Combine(outside, "copy.safetensors");
        File.Move(pending, copy);
        File.CreateSymbolicLink(pending, copy);
        var before = Outside();
        var weights = Path.Combine(directory, PeftModel.WeightsFileName);
        var oldWeights = File.ReadAllBytes(weights);

        var recover = () => AdapterFilePair.Recover(directory);
        var load = () => Model().LoadAdapter(directory, "x");

        recover.Should().Throw<InvalidDataException>().WithMessage($"*'{pending}' is a symbolic link*Nothing was renamed*");
        load.Should().Throw<InvalidDataException>().WithMessage("*symbolic link*");
        new FileInfo(weights).LinkTarget.Should().BeNull("the final file must not become the link");
        File.ReadAllBytes(weights).Should().Equal(oldWeights);
        OutsideIsUntouched(before);
    }

    [LinuxFact]
    public void Leftover_pending_link_is_removed_as_a_link_and_its_target_kept()
    {
        var link = Path.Combine(directory, PendingConfig);
        File.CreateSymbolicLink(link, Path.Combine(outside, PendingConfig));
        var before = Outside();

        Model().Save(directory);

        File.Exists(link).Should().BeFalse("the leftover is cleaned up");
        OutsideIsUntouched(before);
    }

    [Fact]
    public void Oversized_record_is_refused_unread_with_a_short_message()
    {
        var recordPath = Path.Combine(directory, Record);
        File.WriteAllText(recordPath, "{\"format\": \"lily-commit/1\", \"files\": [\"" + new string('x', 16 << 20) + "\"]}");
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var load = () => PeftModel.LoadConfig(directory);

        var message = load.Should().Throw<InvalidDataException>().WithMessage($"*'{recordPath}'*at most*").Which.Message;
        (GC.GetAllocatedBytesForCurrentThread() - allocated).Should().BeLessThan(1 << 20, "the record is refused before it is read");
        message.Length.Should().BeLessThan(1000, "the record's content is not echoed");
    }

    public static TheoryData<string, string> BadRecords()
    {
        const string hash = "0000000000000000000000000000000000000000000000000000000000000000";
        string Entry(string pending = PendingConfig, string final = "adapter_config.json", string length = "1") =>
            $"{{\"pending\": \"{pending}\", \"final\": \"{final}\", \"length\": {length}, \"sha256\": \"{hash}\"}}";
        string Record(params string[] entries) => $"{{\"format\": \"lily-commit/1\", \"files\": [{string.Join(", ", entries)}]}}";
        return new()
        {
            { Record(Entry(), Entry(final: "adapter_model.safetensors")), "names the pending file*twice" },
            { Record(Entry(length: "\"12\"")), "length is not a non-negative integer" },
            { Record(Entry(length: "null")), "length is not a non-negative integer" },
            { Record(Entry(final: "\\ud800x")), "not valid Unicode" },
            { Record(Entry(final: new string('a', 300))), "longer than 255 bytes" },
            { Record(Entry(final: ".lily-lock")), "not a plain file name" },
            { Record(Enumerable.Repeat(Entry(), 17).ToArray()), "more than 16" },
        };
    }

    [Theory]
    [MemberData(nameof(BadRecords))]
    public void Malformed_record_fields_are_invalid_data_naming_the_record(string json, string problem)
    {
        var recordPath = Path.Combine(directory, Record);
        File.WriteAllText(recordPath, json);

        var recover = () => AdapterFilePair.Recover(directory);
        var load = () => PeftModel.LoadConfig(directory);

        recover.Should().Throw<InvalidDataException>().WithMessage($"The commit record '{recordPath}' is malformed: *{problem}*");
        load.Should().Throw<InvalidDataException>().WithMessage($"*'{recordPath}'*{problem}*");
    }

    [Fact]
    public void Record_that_is_not_utf8_is_invalid_data_naming_the_record()
    {
        var recordPath = Path.Combine(directory, Record);
        var bytes = Encoding.UTF8.GetBytes("{\"format\": \"lily-commit/1\", \"files\": [{\"pending\": \"X\"}]}");
        bytes[Array.IndexOf(bytes, (byte)'X')] = 0xFF;
        File.WriteAllBytes(recordPath, bytes);

        var recover = () => AdapterFilePair.Recover(directory);

        recover.Should().Throw<InvalidDataException>().WithMessage($"The commit record '{recordPath}' is malformed: *");
    }

    [LinuxFact]
    public void Final_files_linked_into_a_blob_store_load_as_in_a_hugging_face_cache()
    {
        var blobs = Path.Combine(root, "blobs");
        var snapshot = Path.Combine(root, "snapshot");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (var name in new[] { AdapterConfigFile.FileName, PeftModel.WeightsFileName })
        {
            File.Copy(Path.Combine(directory, name), Path.Combine(blobs, name + ".blob"));
            File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine(blobs, name + ".blob"));
        }

        var blobBytes = Directory.GetFiles(blobs).ToDictionary(p => p, File.ReadAllBytes);

        var peft = Model();
        peft.LoadAdapter(snapshot, "x");
        Model().Save(snapshot);

        peft.AdapterNames.Should().Contain("x");
        foreach (var (blob, bytes) in blobBytes) File.ReadAllBytes(blob).Should().Equal(bytes, "a save never writes through a link");
        new FileInfo(Path.Combine(snapshot, PeftModel.WeightsFileName)).LinkTarget.Should().BeNull("the save put a regular file in the link's place");
    }

    [LinuxFact]
    public async Task Final_file_linked_to_a_fifo_is_refused_without_blocking()
    {
        var fifo = Path.Combine(outside, "fifo");
        MakeFifo(fifo);
        var config = Path.Combine(directory, AdapterConfigFile.FileName);
        File.Delete(config);
        File.CreateSymbolicLink(config, fifo);

        var load = await Within(() => PeftModel.LoadConfig(directory));

        load.Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain("FIFO");
    }
}
