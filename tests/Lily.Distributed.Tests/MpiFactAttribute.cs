namespace Lily.Distributed.Tests;

/// <summary>A fact that needs MPICH's mpiexec; shown as skipped, not passed, where MPICH is not installed.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiInstallation.Launcher is null) Skip = $"mpiexec.mpich not found: {MpiInstallation.InstallHint}.";
    }
}
