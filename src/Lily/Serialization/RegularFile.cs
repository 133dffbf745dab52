using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Lily.Serialization;

/// <summary>
/// Opens only regular files, reached without following a symbolic link, and never blocks on a FIFO: what an adapter
/// directory's files must be before anything reads, hashes or renames them.
/// </summary>
/// <remarks>
/// On Linux the entry's type is read with <c>statx(AT_SYMLINK_NOFOLLOW)</c> before opening, the file is opened with
/// <c>O_NONBLOCK</c> (so a FIFO swapped in after the check cannot block either), and the opened file's inode is
/// compared with the checked one (so a symbolic link swapped in after the check is not followed). Elsewhere (or with
/// a C library too old for <c>statx</c>) the check
/// uses .NET's link and attribute information and the open is an ordinary one: a FIFO swapped in between the check
/// and the open could still block there.
/// </remarks>
internal static class RegularFile
{
    /// <summary>What a directory entry is, without following a symbolic link.</summary>
    public enum Kind
    {
        /// <summary>Nothing by that name.</summary>
        Missing,

        /// <summary>A regular file.</summary>
        Regular,

        /// <summary>A directory.</summary>
        Directory,

        /// <summary>A symbolic link (whatever it points to).</summary>
        SymbolicLink,

        /// <summary>A FIFO, socket or device.</summary>
        Special,
    }

    /// <summary>The kind of the entry <paramref name="path"/> names, without following a symbolic link.</summary>
    public static Kind KindOf(string path)
    {
        if (UseStatx)
        {
            return Stat(path) is { } stat ? stat.Kind : Kind.Missing;
        }

        var info = new FileInfo(path);
        if (!info.Exists && !Directory.Exists(path) && info.LinkTarget is null) return Kind.Missing;
        if (info.LinkTarget is not null || info.Attributes.HasFlag(FileAttributes.ReparsePoint)) return Kind.SymbolicLink;
        if (info.Attributes.HasFlag(FileAttributes.Directory)) return Kind.Directory;
        return info.Attributes.HasFlag(FileAttributes.Device) ? Kind.Special : Kind.Regular;
    }

    /// <summary>Opens <paramref name="path"/> for reading if it is a regular file and not a symbolic link.</summary>
    /// <param name="path">The file.</param>
    /// <param name="throughLink">
    /// Also accept a symbolic link to a regular file and read that file (what a Hugging Face cache holds: every
    /// snapshot file is a link into its blob store). Only for reading the final files; never for what is renamed,
    /// hashed for a rename, or deleted.
    /// </param>
    /// <exception cref="FileNotFoundException">Nothing is there.</exception>
    /// <exception cref="InvalidDataException">It is a directory, a symbolic link (unless allowed), a FIFO, a socket or a device.</exception>
    public static FileStream OpenRead(string path, bool throughLink = false)
    {
        if (!UseStatx)
        {
            var kind = KindOf(path);
            if (throughLink && kind == Kind.SymbolicLink && File.Exists(path) && !new FileInfo(path).Attributes.HasFlag(FileAttributes.Device)) kind = Kind.Regular;
            RequireRegular(path, kind);
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }

        // A rename between the check and the open (a writer replacing the file) is normal: check and open again.
        for (int attempt = 0; ; attempt++)
        {
            var before = Stat(path);
            // Through a link, the entry checked is the link's target (stat follows it); the open below follows it too.
            if (throughLink && before?.Kind == Kind.SymbolicLink) before = Statx(AtFdCwd, path, 0);
            RequireRegular(path, before?.Kind ?? Kind.Missing);
            int fd = Native.open(path, ReadOnly | NonBlocking | CloseOnExec);
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == NoSuchFile) throw new FileNotFoundException($"'{path}' does not exist.", path);
                throw new IOException($"Cannot open '{path}' (errno {errno}).");
            }

            var handle = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
            try
            {
                var opened = StatOf(fd) ?? throw new IOException($"Cannot inspect the opened file '{path}'.");
                // Reached without a link only if the path names, now or a moment ago, this very regular file.
                bool same(Status? s) => s is { Kind: Kind.Regular } x && x.Inode == opened.Inode && x.Device == opened.Device;
                if (opened.Kind == Kind.Regular && (same(before) || same(throughLink ? Statx(AtFdCwd, path, 0) : Stat(path))))
                {
                    return new FileStream(handle, FileAccess.Read, bufferSize: 1);
                }

                if (attempt >= 20)
                {
                    throw new InvalidDataException($"'{path}' kept changing into something other than the regular file checked a moment ago (a symbolic link or special file swapped in); refusing to read it.");
                }
            }
            catch
            {
                handle.Dispose();
                throw;
            }

            handle.Dispose();
        }
    }

    /// <summary>Reads the whole of a regular file, refusing one longer than <paramref name="maxLength"/> bytes.</summary>
    /// <exception cref="InvalidDataException">Not a regular file, or too long (checked before reading, and while reading).</exception>
    public static byte[] ReadAllBytes(string path, long maxLength, bool throughLink = false)
    {
        using var stream = OpenRead(path, throughLink);
        if (stream.Length > maxLength)
        {
            throw new InvalidDataException($"'{path}' is {stream.Length} bytes; a file of this kind is at most {maxLength} bytes, so it is refused unread.");
        }

        var buffer = new byte[stream.Length];
        int read = 0;
        while (read < buffer.Length)
        {
            int n = stream.Read(buffer, read, buffer.Length - read);
            if (n == 0) break;
            read += n;
        }

        // A file that grew or shrank while being read was being rewritten in place, which no writer here does.
        if (read != buffer.Length || stream.ReadByte() != -1)
        {
            throw new IOException($"'{path}' changed length while it was read.");
        }

        return buffer;
    }

    private static void RequireRegular(string path, Kind kind)
    {
        switch (kind)
        {
            case Kind.Regular:
                return;
            case Kind.Missing:
                throw new FileNotFoundException($"'{path}' does not exist.", path);
            default:
                throw new InvalidDataException($"'{path}' is {Describe(kind)}, not a regular file; refusing to open it (an adapter directory holds only regular files).");
        }
    }

    /// <summary>"a directory", "a symbolic link", ... for messages.</summary>
    public static string Describe(Kind kind) => kind switch
    {
        Kind.Directory => "a directory",
        Kind.SymbolicLink => "a symbolic link",
        Kind.Special => "a FIFO, socket or device",
        Kind.Missing => "missing",
        _ => "a regular file",
    };

    private readonly record struct Status(Kind Kind, ulong Inode, ulong Device);

    // Flags that are the same on every Linux architecture .NET runs on (x64, arm64, arm).
    private const int ReadOnly = 0;
    private const int NonBlocking = 0x800;      // O_NONBLOCK
    private const int CloseOnExec = 0x80000;    // O_CLOEXEC
    private const int NoSuchFile = 2;           // ENOENT
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxIno = 0x100;

    // Linux with a C library that has statx (glibc 2.28 and later); otherwise the portable checks are used.
    private static readonly bool UseStatx = OperatingSystem.IsLinux() && HasStatx();

    private static bool HasStatx()
    {
        try
        {
            _ = Statx(AtFdCwd, "/", AtSymlinkNoFollow);
            return true;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static Status? Stat(string path) => Statx(AtFdCwd, path, AtSymlinkNoFollow);

    private static Status? StatOf(int fd) => Statx(fd, "", AtEmptyPath);

    // struct statx has one layout on every architecture: stx_mode is a u16 at byte 28, stx_ino a u64 at 32,
    // stx_dev_major and stx_dev_minor u32 at 136 and 140.
    private static Status? Statx(int dirFd, string path, int flags)
    {
        var buffer = new byte[256];
        if (Native.statx(dirFd, path, flags, StatxType | StatxIno, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is NoSuchFile or 20 /* ENOTDIR */) return null;
            throw new IOException($"Cannot inspect '{path}' (errno {errno}).");
        }

        int mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(28)) & 0xF000;
        var kind = mode switch
        {
            0x8000 => Kind.Regular,
            0x4000 => Kind.Directory,
            0xA000 => Kind.SymbolicLink,
            _ => Kind.Special,
        };
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(32));
        ulong device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(136)) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(140));
        return new Status(kind, inode, device);
    }

    /// <summary>The inode identity of an open file (Linux), to tell whether two handles are the same file.</summary>
    internal static (ulong Inode, ulong Device)? IdentityOf(SafeFileHandle handle)
    {
        if (!UseStatx) return null;
        return StatOf((int)handle.DangerousGetHandle()) is { } s ? (s.Inode, s.Device) : null;
    }

    /// <summary>The inode identity of the entry at <paramref name="path"/>, not following a symbolic link (Linux).</summary>
    internal static (ulong Inode, ulong Device)? IdentityOf(string path)
    {
        if (!UseStatx) return null;
        return Stat(path) is { } s ? (s.Inode, s.Device) : null;
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
    }
}
