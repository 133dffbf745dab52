using System.Runtime.InteropServices;

namespace Lily.Tests.Support;

/// <summary>
/// Drops this process to the unprivileged user <c>nobody</c> (uid and gid 65534) on Linux, so that file modes bind
/// even when the tests run as root (as CI does): a test starts the test assembly as a child that calls this first.
/// </summary>
internal static class Unprivileged
{
    /// <summary>The uid and gid of <c>nobody</c> on Debian.</summary>
    public const int Nobody = 65534;

    /// <summary>Becomes <c>nobody</c>; throws if the system refuses.</summary>
    public static void Become()
    {
        if (setgroups(0, IntPtr.Zero) != 0 || setgid(Nobody) != 0 || setuid(Nobody) != 0)
            throw new InvalidOperationException($"Could not become uid {Nobody}: errno {Marshal.GetLastPInvokeError()}.");
    }

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; three plain calls do not.
    [DllImport("libc", SetLastError = true)]
    private static extern int setuid(int uid);

    [DllImport("libc", SetLastError = true)]
    private static extern int setgid(int gid);

    [DllImport("libc", SetLastError = true)]
    private static extern int setgroups(nint size, IntPtr list);
#pragma warning restore SYSLIB1054
}
