namespace Lily.Tests.Support;

/// <summary>A fact that needs Linux (FIFOs, symbolic links as Linux makes them); reported as skipped elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Needs Linux: it makes FIFOs and symbolic links and checks Linux's guarantees.";
    }
}
