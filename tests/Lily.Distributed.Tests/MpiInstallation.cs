namespace Lily.Distributed.Tests;

/// <summary>Where the installed MPICH's launcher and header are, if MPICH is installed.</summary>
internal static class MpiInstallation
{
    /// <summary>How CI installs what the multi-process tests need.</summary>
    public const string InstallHint = "install MPICH (Debian: apt-get install mpich; .ci/run does)";

    private static readonly string[] HeaderCandidates =
    [
        "/usr/include/x86_64-linux-gnu/mpich/mpi.h",
        "/usr/include/aarch64-linux-gnu/mpich/mpi.h",
        "/usr/include/mpich/mpi.h",
        "/usr/include/mpich-x86_64/mpi.h",
    ];

    /// <summary>MPICH's own launcher (Debian installs it as mpiexec.mpich; plain mpiexec may be Open MPI's).</summary>
    public static string? Launcher { get; } = FindOnPath("mpiexec.mpich") ?? FindOnPath("mpiexec.hydra");

    /// <summary>MPICH's mpi.h.</summary>
    public static string? Header { get; } = HeaderCandidates.FirstOrDefault(File.Exists);

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
