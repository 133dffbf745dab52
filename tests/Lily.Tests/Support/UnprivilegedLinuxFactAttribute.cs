namespace Lily.Tests.Support;

/// <summary>A test that needs Linux file permissions to bind: skipped as root, whom no mode bit stops.</summary>
public sealed class UnprivilegedLinuxFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> unless running on Linux as a user other than root.</summary>
    public UnprivilegedLinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Needs Linux file permissions.";
        else if (Environment.UserName == "root") Skip = "Runs as root, whom file modes do not stop (CI runs it as an ordinary user).";
    }
}
