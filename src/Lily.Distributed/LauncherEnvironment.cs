namespace Lily.Distributed;

/// <summary>
/// What the process's launcher says about the job, read from the environment variables launchers set:
/// MPICH's Hydra and Intel MPI (<c>PMI_SIZE</c>, <c>PMI_RANK</c>), Open MPI (<c>OMPI_COMM_WORLD_SIZE</c>,
/// <c>OMPI_COMM_WORLD_RANK</c>) and MVAPICH (<c>MV2_COMM_WORLD_SIZE</c>, <c>MV2_COMM_WORLD_RANK</c>).
/// A process that MPI sees alone while its launcher started N of them was started by the wrong launcher
/// (e.g. Open MPI's <c>mpirun</c> on an MPICH program: N independent copies, each "rank 0 of 1").
/// </summary>
/// <param name="SizeVariable">The variable that gave the size, or null when no launcher variable is set.</param>
/// <param name="Size">The job's size by the launcher, or null.</param>
/// <param name="Rank">This process's rank by the launcher, or null.</param>
public sealed record LauncherEnvironment(string? SizeVariable, int? Size, int? Rank)
{
    private static readonly (string Size, string Rank)[] Variables =
    [
        ("PMI_SIZE", "PMI_RANK"),
        ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),
    ];

    /// <summary>True when some launcher variable is set.</summary>
    public bool FromLauncher => SizeVariable is not null;

    /// <summary>Reads the current process's environment.</summary>
    public static LauncherEnvironment Current() => From(Environment.GetEnvironmentVariable);

    /// <summary>Reads launcher variables through <paramref name="variable"/> (the first launcher's set that is present wins).</summary>
    /// <exception cref="MpiException">A launcher variable holds something other than a non-negative integer.</exception>
    public static LauncherEnvironment From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        foreach (var (sizeName, rankName) in Variables)
        {
            var size = variable(sizeName);
            if (string.IsNullOrEmpty(size)) continue;
            return new LauncherEnvironment(sizeName, Parse(sizeName, size), variable(rankName) is { Length: > 0 } rank ? Parse(rankName, rank) : null);
        }

        return new LauncherEnvironment(null, null, null);
    }

    /// <summary>The reason a world of <paramref name="mpiSize"/> with this process at <paramref name="mpiRank"/> disagrees with the launcher, or null.</summary>
    public string? Mismatch(int mpiSize, int mpiRank)
    {
        if (Size is { } size && size != mpiSize)
        {
            return $"The launcher started {size} processes ({SizeVariable}={size}) but MPI sees a world of {mpiSize}: " +
                   "the program was started by a launcher of another MPI (e.g. Open MPI's mpirun for an MPICH program) " +
                   "and every copy runs alone as rank 0. Launch with the mpiexec of the MPI library loaded (Debian: mpiexec.mpich).";
        }

        if (Rank is { } rank && rank != mpiRank)
        {
            return $"The launcher says this is rank {rank} but MPI says {mpiRank}; the launcher and the MPI library do not belong together.";
        }

        return null;
    }

    private static int Parse(string name, string value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new MpiException($"Environment variable {name}='{value}' is not a non-negative integer.");
}
