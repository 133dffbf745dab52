using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Lily.Benchmarks;

/// <summary>The configuration every benchmark runs with unless the command line changes it.</summary>
public static class BenchConfig
{
    /// <summary>
    /// One in-process job (the build output with its patched native library is what runs, and no
    /// project is generated per benchmark), 3 warm-up and 10 measured iterations of at least
    /// 250 ms each, plus the memory diagnoser for managed allocations.
    /// </summary>
    public static IConfig Create() => ManualConfig.Create(DefaultConfig.Instance)
        .AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
            .WithId("InProcess")
            .AsDefault())
        .AddDiagnoser(MemoryDiagnoser.Default)
        .WithArtifactsPath(Path.Combine(Environment.CurrentDirectory, "BenchmarkDotNet.Artifacts"))
        .WithOptions(ConfigOptions.DisableLogFile);
}
