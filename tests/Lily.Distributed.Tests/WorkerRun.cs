using System.Diagnostics;

namespace Lily.Distributed.Tests;

/// <summary>Runs the worker program, alone or under mpiexec, and collects what it printed.</summary>
internal sealed record WorkerRun(int ExitCode, string Output, TimeSpan Elapsed)
{
    private static readonly string WorkerDll = Path.Combine(AppContext.BaseDirectory, "Lily.Distributed.Worker.dll");

    /// <summary>Launcher variables removed from the child's environment, so a run alone really is alone.</summary>
    private static readonly string[] LauncherVariables =
        ["PMI_SIZE", "PMI_RANK", "PMI_FD", "PMI_PORT", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"];

    /// <summary>Runs <c>mpiexec.mpich -n <paramref name="ranks"/> dotnet worker.dll parallel …</c>.</summary>
    public static WorkerRun Parallel(int ranks, params string[] workerArgs) => Parallel(ranks, null, workerArgs);

    /// <summary>Runs <c>mpiexec.mpich -n <paramref name="ranks"/> dotnet worker.dll parallel …</c> with <paramref name="environment"/> (mpiexec passes it on to every rank).</summary>
    public static WorkerRun Parallel(int ranks, IReadOnlyDictionary<string, string>? environment, params string[] workerArgs) =>
        Run(MpiInstallation.Launcher ?? throw new InvalidOperationException("MPICH is not installed."),
            ["-n", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "dotnet", WorkerDll, "parallel", .. workerArgs], environment);

    /// <summary>Runs <c>dotnet worker.dll &lt;mode&gt; …</c> with no launcher, plus <paramref name="environment"/>.</summary>
    public static WorkerRun Alone(string mode, IReadOnlyDictionary<string, string>? environment, params string[] workerArgs) =>
        Run("dotnet", [WorkerDll, mode, .. workerArgs], environment);

    private static WorkerRun Run(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var v in LauncherVariables) start.Environment.Remove(v);
        // A hung job must fail the test, not the CI run; MPICH's mpiexec ends the job itself after this many seconds.
        start.Environment["MPIEXEC_TIMEOUT"] = "120";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(180)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not end within 180 s.");
        }

        process.WaitForExit();
        return new WorkerRun(process.ExitCode, stdout.Result + stderr.Result, clock.Elapsed);
    }
}
