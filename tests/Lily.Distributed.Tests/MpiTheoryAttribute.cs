namespace Lily.Distributed.Tests;

/// <summary>A theory that needs MPICH's mpiexec; shown as skipped, not passed, where MPICH is not installed.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiInstallation.Launcher is null) Skip = $"mpiexec.mpich not found: {MpiInstallation.InstallHint}.";
    }
}
