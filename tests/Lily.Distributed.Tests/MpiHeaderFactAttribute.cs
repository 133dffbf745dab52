namespace Lily.Distributed.Tests;

/// <summary>A fact that reads MPICH's mpi.h; shown as skipped where MPICH's header is not installed.</summary>
public sealed class MpiHeaderFactAttribute : FactAttribute
{
    public MpiHeaderFactAttribute()
    {
        if (MpiInstallation.Header is null) Skip = $"MPICH's mpi.h not found: {MpiInstallation.InstallHint}.";
    }
}
