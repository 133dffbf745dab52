using System.Text;
using Lily.Serialization;

namespace Lily.Tests.Serialization;

/// <summary>
/// The commit protocol that replaces an adapter's two files together: a fault at every step, followed by recovery,
/// leaves exactly the old pair or exactly the new pair.
/// </summary>
public sealed class AdapterFilePairTests : IDisposable
{
    private const string Config = "adapter_config.json";
    private const string Weights = "adapter_model.safetensors";
    private const string Record = ".lily-commit.json";
    private const string Lock = ".lily-lock";

    private static readonly byte[] OldConfig = Encoding.UTF8.GetBytes("{\"r\": 2}");
    private static readonly byte[] OldWeights = [1, 2, 3, 4, 5, 6, 7, 8];
    private static readonly byte[] NewConfig = Encoding.UTF8.GetBytes("{\"r\": 3, \"new\": true}");
    private static readonly byte[] NewWeights = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();

    // Bystanders that must survive every save and recovery unchanged: another adapter in a sub-folder, a file
    // beside the pair, a hidden file, and a temporary file of some other writer.
    private static readonly (string Path, byte[] Bytes)[] Bystanders =
    [
        (Path.Combine("other", Config), Encoding.UTF8.GetBytes("{\"r\": 9}")),
        (Path.Combine("other", Weights), [9, 9]),
        ("README.md", Encoding.UTF8.GetBytes("notes")),
        (".keep", []),
        (".notes.txt.0123456789abcdef0123456789abcdef.tmp", [4]),
    ];

    private readonly string root = Directory.CreateTempSubdirectory("lily-pair-").FullName;
    private readonly string directory;
    private readonly string crash;

    public AdapterFilePairTests()
    {
        directory = Path.Combine(root, "adapter");
        crash = Path.Combine(root, "crash");
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, Config), OldConfig);
        File.WriteAllBytes(Path.Combine(directory, Weights), OldWeights);
        foreach (var (path, bytes) in Bystanders)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(directory, path))!);
            File.WriteAllBytes(Path.Combine(directory, path), bytes);
        }
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static PendingFile[] Pair(byte[] config, byte[] weights) =>
        [new(Config, s => s.Write(config)), new(Weights, s => s.Write(weights))];

    private sealed class InjectedFault(string step) : Exception($"injected fault at {step}");

    /// <summary>Every step, in order, and whether a crash right after it must end with the new pair.</summary>
    public static TheoryData<string, bool> FaultSteps() => new()
    {
        { $"temp-written:{Config}", false },
        { $"temp-written:{Weights}", false },
        { "committed", true },
        { $"renamed:{Config}", true },
        { $"renamed:{Weights}", true },
        { "record-deleted", true },
    };

    /// <summary>The directory holds exactly this pair, the untouched bystanders, and nothing else.</summary>
    private static void ShouldHoldExactly(string dir, byte[] config, byte[] weights, string because)
    {
        File.ReadAllBytes(Path.Combine(dir, Config)).Should().Equal(config, because);
        File.ReadAllBytes(Path.Combine(dir, Weights)).Should().Equal(weights, because);
        foreach (var (path, bytes) in Bystanders) File.ReadAllBytes(Path.Combine(dir, path)).Should().Equal(bytes, because);
        Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(dir, p))
            .Where(p => p != Lock)    // the writers' lock file stays, empty but for a counter
            .Should().BeEquivalentTo(Bystanders.Select(b => b.Path).Concat([Config, Weights, "other"]), because + ": no pending or record file may remain");
    }

    // What a crash at this moment leaves on disk: a copy of the directory as it is.
    private static void Snapshot(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        // The lock file is not copied: a crash releases the lock, and the copy stands for the directory afterwards.
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != Lock))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    private Action<string> CrashAt(string target) => step =>
    {
        if (step != target) return;
        Snapshot(directory, crash);
        throw new InjectedFault(step);
    };

    [Fact]
    public void Write_goes_through_every_step_in_order_and_replaces_the_pair()
    {
        var steps = new List<string>();

        AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights), steps.Add);

        steps.Should().Equal(FaultSteps().Select(row => (string)row[0]), "the fault tests must cover every step");
        ShouldHoldExactly(directory, NewConfig, NewWeights, "after a successful write");
    }

    [Theory]
    [MemberData(nameof(FaultSteps))]
    public void Crash_at_any_step_then_recovery_gives_the_old_or_the_new_pair(string step, bool committed)
    {
        var write = () => AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights), CrashAt(step));

        write.Should().Throw<InjectedFault>();
        Directory.Exists(crash).Should().BeTrue("the fault hook ran at this step");
        var (config, weights) = committed ? (NewConfig, NewWeights) : (OldConfig, OldWeights);

        // The crashed state, as left on disk when the fault struck.
        File.Exists(Path.Combine(crash, Record)).Should().Be(committed && step != "record-deleted", "the record marks a committed, unfinished save");
        AdapterFilePair.Recover(crash);
        ShouldHoldExactly(crash, config, weights, $"a crash after {step} is recovered to the {(committed ? "new" : "old")} pair");

        // The process that saw the exception: recovery (the next save or load) settles it the same way.
        AdapterFilePair.Recover(directory);
        ShouldHoldExactly(directory, config, weights, $"a fault after {step} is recovered to the {(committed ? "new" : "old")} pair");
    }

    [Theory]
    [MemberData(nameof(FaultSteps))]
    public void Next_write_after_a_crash_recovers_first_and_then_replaces_the_pair(string step, bool committed)
    {
        _ = committed;  // the same rows as the crash theory; a new save wins either way
        var crashed = () => AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights), CrashAt(step));
        crashed.Should().Throw<InjectedFault>();
        byte[] thirdConfig = [3], thirdWeights = [3, 3, 3];

        AdapterFilePair.Write(crash, Pair(thirdConfig, thirdWeights));

        ShouldHoldExactly(crash, thirdConfig, thirdWeights, $"a save after a crash at {step}");
    }

    [Fact]
    public void Content_callback_that_throws_leaves_the_old_pair_and_no_pending_file()
    {
        PendingFile[] files = [new(Config, s => s.Write(NewConfig)), new(Weights, s => { s.Write(NewWeights); throw new IOException("disk full"); })];

        var write = () => AdapterFilePair.Write(directory, files);

        write.Should().Throw<IOException>().WithMessage("disk full");
        ShouldHoldExactly(directory, OldConfig, OldWeights, "without recovery, a failure before the commit point cleans up after itself");
    }

    [Fact]
    public void Pair_can_be_written_into_an_empty_directory()
    {
        var empty = Path.Combine(root, "empty");
        Directory.CreateDirectory(empty);

        AdapterFilePair.Write(empty, Pair(NewConfig, NewWeights));

        Directory.GetFileSystemEntries(empty).Select(Path.GetFileName).Should().BeEquivalentTo([Config, Weights, Lock]);
        File.ReadAllBytes(Path.Combine(empty, Weights)).Should().Equal(NewWeights);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("[]")]
    [InlineData("{\"format\": \"lily-commit/1\"}")]
    [InlineData("{\"format\": \"lily-commit/1\", \"files\": []}")]
    [InlineData("{\"format\": \"other\", \"files\": [{}]}")]
    [InlineData("{\"format\": \"lily-commit/1\", \"files\": [{\"pending\": \".a.0123456789abcdef0123456789abcdef.lily-pending\", \"final\": \"../escape\", \"length\": 1, \"sha256\": \"" + ZeroHash + "\"}]}")]
    [InlineData("{\"format\": \"lily-commit/1\", \"files\": [{\"pending\": \"adapter_config.json\", \"final\": \"adapter_config.json\", \"length\": 1, \"sha256\": \"" + ZeroHash + "\"}]}")]
    [InlineData("{\"format\": \"lily-commit/1\", \"files\": [{\"pending\": \".a.0123456789abcdef0123456789abcdef.lily-pending\", \"final\": \"a\", \"length\": -1, \"sha256\": \"" + ZeroHash + "\"}]}")]
    [InlineData("{\"format\": \"lily-commit/1\", \"files\": [{\"pending\": \".a.0123456789abcdef0123456789abcdef.lily-pending\", \"final\": \"a\", \"length\": 1, \"sha256\": \"xyz\"}]}")]
    public void Malformed_record_is_a_clear_error_and_changes_nothing(string json)
    {
        var recordPath = Path.Combine(directory, Record);
        File.WriteAllText(recordPath, json);
        var pending = Path.Combine(directory, ".adapter_config.json.0123456789abcdef0123456789abcdef.lily-pending");
        File.WriteAllBytes(pending, NewConfig);

        var recover = () => AdapterFilePair.Recover(directory);
        var write = () => AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights));

        recover.Should().Throw<InvalidDataException>().WithMessage($"The commit record '{recordPath}' is malformed: *");
        write.Should().Throw<InvalidDataException>().WithMessage($"*'{recordPath}' is malformed*", "a save must not run over an unresolved record");
        File.ReadAllText(recordPath).Should().Be(json);
        File.ReadAllBytes(pending).Should().Equal(NewConfig, "the pending files are kept for inspection");
        File.ReadAllBytes(Path.Combine(directory, Config)).Should().Equal(OldConfig);
        File.ReadAllBytes(Path.Combine(directory, Weights)).Should().Equal(OldWeights);
    }

    private const string ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000";

    [Fact]
    public void Damaged_pending_file_is_a_clear_error_and_nothing_is_renamed()
    {
        var crashed = () => AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights), CrashAt("committed"));
        crashed.Should().Throw<InjectedFault>();
        var pendingWeights = Directory.GetFiles(crash, $".{Weights}.*.lily-pending").Single();
        var bytes = File.ReadAllBytes(pendingWeights);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(pendingWeights, bytes);
        var before = Directory.GetFiles(crash).Order().ToList();

        var recover = () => AdapterFilePair.Recover(crash);

        recover.Should().Throw<InvalidDataException>().WithMessage($"*'{pendingWeights}'*SHA-256*Nothing was renamed*");
        Directory.GetFiles(crash).Where(f => Path.GetFileName(f) != Lock).Order().Should().Equal(before, "no pending file may be renamed, and the record stays");
        File.ReadAllBytes(Path.Combine(crash, Config)).Should().Equal(OldConfig, "the intact config must not be moved in without its weights");
        File.ReadAllBytes(Path.Combine(crash, Weights)).Should().Equal(OldWeights);
    }

    [Fact]
    public void Missing_pending_file_whose_final_is_not_the_new_one_is_a_clear_error()
    {
        var crashed = () => AdapterFilePair.Write(directory, Pair(NewConfig, NewWeights), CrashAt("committed"));
        crashed.Should().Throw<InjectedFault>();
        File.Delete(Directory.GetFiles(crash, $".{Weights}.*.lily-pending").Single());

        var recover = () => AdapterFilePair.Recover(crash);

        recover.Should().Throw<InvalidDataException>().WithMessage($"*is missing*'{Weights}' should already be the new file*");
        File.ReadAllBytes(Path.Combine(crash, Config)).Should().Equal(OldConfig, "nothing is renamed");
        File.Exists(Path.Combine(crash, Record)).Should().BeTrue();
    }

    [Fact]
    public void Recover_without_a_record_deletes_only_the_protocol_leftovers()
    {
        var pending = Path.Combine(directory, ".adapter_model.safetensors.0123456789abcdef0123456789abcdef.lily-pending");
        var recordTemp = Path.Combine(directory, "..lily-commit.json.0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(pending, NewWeights);
        File.WriteAllText(recordTemp, "{");

        AdapterFilePair.Recover(directory);

        ShouldHoldExactly(directory, OldConfig, OldWeights, "stray pending files are rolled back");
    }

    [Fact]
    public void Recover_of_a_missing_directory_does_nothing()
    {
        var recover = () => AdapterFilePair.Recover(Path.Combine(root, "absent"));

        recover.Should().NotThrow();
        Directory.Exists(Path.Combine(root, "absent")).Should().BeFalse();
    }

    [Theory]
    [InlineData("sub/adapter_config.json", "*not a plain file name*")]
    [InlineData("..", "*not a plain file name*")]
    [InlineData(Record, "*reserved*")]
    [InlineData(".x.0123456789abcdef0123456789abcdef.lily-pending", "*reserved*")]
    [InlineData("ADAPTER_CONFIG.JSON", "*listed twice*")]
    public void Bad_file_names_are_refused_before_anything_is_written(string name, string message)
    {
        PendingFile[] files = [new(Config, s => s.Write(NewConfig)), new(name, s => s.Write(NewWeights))];

        var write = () => AdapterFilePair.Write(directory, files);

        write.Should().Throw<ArgumentException>().WithMessage(message);
        ShouldHoldExactly(directory, OldConfig, OldWeights, "a refused write changes nothing");
    }

    [Fact]
    public void Final_name_taken_by_a_directory_is_refused_before_anything_is_written()
    {
        File.Delete(Path.Combine(directory, Weights));
        Directory.CreateDirectory(Path.Combine(directory, Weights));
        var called = false;
        PendingFile[] files = [new(Config, _ => called = true), new(Weights, _ => called = true)];

        var write = () => AdapterFilePair.Write(directory, files);

        write.Should().Throw<IOException>().WithMessage("*adapter_model.safetensors*is a directory*");
        called.Should().BeFalse();
        File.ReadAllBytes(Path.Combine(directory, Config)).Should().Equal(OldConfig);
    }

    [Fact]
    public void Directory_flush_reports_a_missing_directory()
    {
        var flush = () => DirectorySync.Flush(Path.Combine(root, "absent"));
        var flushExisting = () => DirectorySync.Flush(directory);

        flushExisting.Should().NotThrow();
        if (OperatingSystem.IsLinux()) flush.Should().Throw<IOException>().WithMessage("*absent*errno 2*");
        else flush.Should().NotThrow("directory flushing is a no-op off Linux");
    }
}
