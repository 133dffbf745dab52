using System.Diagnostics;
using Lily.Serialization;

namespace Lily.Tests.Serialization;

/// <summary>
/// A training loop saving checkpoints while evaluators load the latest one: every save succeeds and leaves the pair
/// it saved, every load returns one whole saved pair (checked byte for byte against that version's own files), in
/// one process and across two.
/// </summary>
public sealed class ConcurrentAdapterAccessTests : IDisposable
{
    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(3);

    private readonly string root = Directory.CreateTempSubdirectory("lily-concurrent-").FullName;
    private readonly string shared;
    private readonly AdapterVersions versions;

    public ConcurrentAdapterAccessTests()
    {
        shared = Path.Combine(root, "shared");
        versions = new AdapterVersions(Path.Combine(root, "versions"));
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private Task<(int Saves, List<string> Problems)> Writer(Func<bool> stop) =>
        Task.Factory.StartNew(() => versions.WriteUntil(shared, stop), TaskCreationOptions.LongRunning);

    [Fact]
    public async Task One_writer_and_two_readers_in_one_process_see_only_whole_pairs()
    {
        versions.SaveAndCheck(0, shared).Should().BeNull();
        var clock = Stopwatch.StartNew();
        var writer = Writer(() => clock.Elapsed > RunFor);
        var readers = Enumerable.Range(0, 2)
            .Select(_ => Task.Factory.StartNew(() => AdapterVersions.ReadFor(shared, versions.ReferenceRoot, RunFor), TaskCreationOptions.LongRunning))
            .ToArray();
        var loads = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));
        var (saves, saveProblems) = await writer.WaitAsync(TimeSpan.FromSeconds(60));

        saveProblems.Should().BeEmpty("every save must succeed and leave the pair it saved");
        saves.Should().BeGreaterThan(10, "the writer must really run beside the readers");
        foreach (var (count, problems) in loads)
        {
            problems.Should().BeEmpty("every load must be one whole saved pair");
            count.Should().BeGreaterThan(10);
        }
    }

    [Fact]
    public async Task A_reader_in_another_process_sees_only_whole_pairs()
    {
        versions.SaveAndCheck(0, shared).Should().BeNull();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "exec", typeof(Program).Assembly.Location, "read-adapter", shared, versions.ReferenceRoot, "3" })
            start.ArgumentList.Add(arg);
        using var reader = Process.Start(start)!;
        var output = reader.StandardOutput.ReadToEndAsync();
        var errors = reader.StandardError.ReadToEndAsync();
        var writer = Writer(() => reader.HasExited);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await reader.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            reader.Kill();
            throw new TimeoutException("The reading process did not stop within 60 s.");
        }
        var (saves, problems) = await writer.WaitAsync(TimeSpan.FromSeconds(30));

        var report = await output + await errors;
        reader.ExitCode.Should().Be(0, $"every load in the other process must be one whole saved pair; it reported:\n{report}");
        report.Should().MatchRegex(@"loads=[1-9]\d* problems=0");
        problems.Should().BeEmpty();
        saves.Should().BeGreaterThan(10, "saves must run while the other process reads");
    }

    [Fact]
    public async Task A_second_writer_waits_for_the_lock_instead_of_mixing_in()
    {
        Directory.CreateDirectory(shared);
        Task save;
        using (DirectoryLock.Acquire(shared))
        {
            save = Task.Run(() => versions.SaveAndCheck(1, shared).Should().BeNull());
            await Task.Delay(300);
            save.IsCompleted.Should().BeFalse("a save must wait while another writer holds the folder's lock");
            File.Exists(Path.Combine(shared, AdapterConfigFile.FileName)).Should().BeFalse();
        }

        await save.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Two_writers_at_once_both_succeed_one_after_the_other()
    {
        var clock = Stopwatch.StartNew();
        var writers = new[] { Writer(() => clock.Elapsed > TimeSpan.FromSeconds(1.5)), Writer(() => clock.Elapsed > TimeSpan.FromSeconds(1.5)) };
        var results = await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

        // Each writer's check right after its save can see the other's version, so only exceptions count here.
        results.SelectMany(w => w.Problems).Where(p => p.StartsWith("save", StringComparison.Ordinal)).Should().BeEmpty();
        AdapterVersions.LoadAndCheck(AdapterVersions.Reader(), shared, versions.ReferenceRoot).Should().BeNull();
        Directory.GetFiles(shared).Select(Path.GetFileName).Should()
            .BeEquivalentTo([AdapterConfigFile.FileName, PeftModel.WeightsFileName, DirectoryLock.FileName], "no pending file or record is left");
    }
}
