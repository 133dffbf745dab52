using System.Runtime.InteropServices;

namespace Lily.Serialization;

/// <summary>Flushes a directory's entries (creations, renames, deletions) to the device.</summary>
/// <remarks>
/// On Linux a rename is durable only once the directory itself is fsync'ed; .NET cannot open a directory as a
/// <see cref="FileStream"/>, so this calls libc directly. Elsewhere it does nothing: Windows has no portable way to
/// flush a directory, and NTFS journals renames.
/// </remarks>
internal static class DirectorySync
{
    // O_DIRECTORY differs between architectures (0x10000 on x64, 0x4000 on arm64); O_RDONLY alone opens a
    // directory just as well, and the callers only pass directories they know exist.
    private const int ReadOnly = 0;
    private const int InvalidArgument = 22;     // EINVAL: the file system cannot sync directories
    private const int NotSupported = 95;        // EOPNOTSUPP

    /// <summary>Makes the entries of <paramref name="directory"/> durable (Linux; a no-op elsewhere).</summary>
    /// <exception cref="IOException">The directory cannot be opened or flushed; the message gives the errno.</exception>
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;

        int fd = Native.open(directory, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open the directory '{directory}' to flush it to disk (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Native.fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // Some file systems (e.g. certain network or FUSE mounts) refuse fsync on directories; they
                // offer no stronger guarantee to wait for, so that is not an error.
                if (errno is not (InvalidArgument or NotSupported))
                {
                    throw new IOException($"Cannot flush the directory '{directory}' to disk (errno {errno}).");
                }
            }
        }
        finally
        {
            _ = Native.close(fd);
        }
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
