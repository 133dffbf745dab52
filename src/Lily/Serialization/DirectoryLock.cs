using System.Buffers.Binary;
using System.Diagnostics;

namespace Lily.Serialization;

/// <summary>
/// The advisory lock a writer (a save, or a roll-forward of an interrupted save) holds on an adapter directory, so
/// there is one writer per directory at a time, in this process or any other. The lock file also counts generations:
/// every writer that takes it writes a new number, so a reader can tell whether a writer ran while it was reading.
/// </summary>
/// <remarks>
/// The lock is an exclusive <see cref="FileShare.None"/> open of <see cref="FileName"/>: <c>flock</c> on Linux and
/// macOS, a sharing lock on Windows. Readers never take it for long: <see cref="Probe"/> opens the file for reading
/// for a moment, which fails while a writer holds it. Advisory: a process that ignores the file (an older version of
/// this library, Python PEFT, a file manager) is not stopped. On network file systems <c>flock</c> may be local to
/// one machine; .NET skips file locking entirely when <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> is set.
/// </remarks>
internal sealed class DirectoryLock : IDisposable
{
    /// <summary>The lock file's name in the directory it guards. It stays there (empty but for a counter).</summary>
    public const string FileName = ".lily-lock";

    /// <summary>How long a writer waits for another writer of the same directory before giving up.</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly FileStream stream;

    private DirectoryLock(FileStream stream) => this.stream = stream;

    /// <summary>What a reader saw of the lock: nobody writing (with the generation), or a writer at work.</summary>
    /// <param name="Busy">A writer holds the lock now.</param>
    /// <param name="Generation">The number the last writer wrote; 0 when there is no lock file yet.</param>
    public readonly record struct State(bool Busy, ulong Generation);

    /// <summary>Takes the lock on <paramref name="directory"/>, waiting up to <see cref="WaitLimit"/> for another writer.</summary>
    /// <exception cref="IOException">Another writer kept the lock, or the lock file is not a regular file.</exception>
    public static DirectoryLock Acquire(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var kind = RegularFile.KindOf(path);
            if (kind is not (RegularFile.Kind.Missing or RegularFile.Kind.Regular))
            {
                throw new IOException($"Cannot lock '{directory}' for writing: '{path}' is {RegularFile.Describe(kind)}, not the regular lock file this library creates. Remove it.");
            }

            FileStream? stream = null;
            try
            {
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
                // A symbolic link swapped in after the check would have been followed: refuse what was opened.
                if (RegularFile.IdentityOf(stream.SafeFileHandle) is { } opened && RegularFile.IdentityOf(path) != opened)
                {
                    throw new IOException($"Cannot lock '{directory}' for writing: '{path}' was replaced while it was opened.");
                }

                var held = new DirectoryLock(stream);
                held.BumpGeneration();
                stream = null;
                return held;
            }
            catch (IOException e) when (IsHeldByAnother(e) && clock.Elapsed < WaitLimit)
            {
                Thread.Sleep(2);
            }
            catch (IOException e) when (IsHeldByAnother(e))
            {
                throw new IOException(
                    $"Cannot save into '{directory}': another writer has held its lock '{path}' for {WaitLimit.TotalSeconds:F0} s. " +
                    "Only one save per directory can run at a time.", e);
            }
            finally
            {
                stream?.Dispose();
            }
        }
    }

    /// <summary>
    /// What a reader sees of the lock on <paramref name="directory"/> right now, without changing anything (the lock
    /// file is never created here). A lock file that cannot be read, or is gone, reads as no writer at generation 0.
    /// </summary>
    public static State Probe(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (RegularFile.KindOf(path) != RegularFile.Kind.Regular) return new State(false, 0);
        try
        {
            // A shared lock for the length of one 8-byte read: it fails while a writer holds the exclusive one.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
            Span<byte> bytes = stackalloc byte[8];
            return new State(false, stream.Length >= 8 && stream.Read(bytes) == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(bytes) : 0);
        }
        catch (IOException e) when (IsHeldByAnother(e))
        {
            return new State(true, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A load never needs the lock: a lock file this reader may not open (another user's umask) or a folder
            // deleted meanwhile only means it cannot watch for writers. The read goes on; what it cannot read (the
            // config, the weights) fails with the adapter's own file named, never the lock.
            return new State(false, 0);
        }
    }

    /// <inheritdoc />
    public void Dispose() => stream.Dispose();

    // A new number for every writer, so a reader that saw the same number before and after its read knows no writer
    // ran in between. Not flushed to the disk: it only matters while processes are running.
    private void BumpGeneration()
    {
        Span<byte> bytes = stackalloc byte[8];
        ulong generation = stream.Length >= 8 && stream.Read(bytes) == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(bytes) : 0;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, generation + 1);
        stream.Position = 0;
        stream.Write(bytes);
        stream.Flush();
    }

    // .NET reports a lock held elsewhere as a plain IOException: on Windows with HResult ERROR_SHARING_VIOLATION or
    // ERROR_LOCK_VIOLATION, on Unix with the errno of flock's EWOULDBLOCK (11 on Linux, 35 on macOS).
    private static bool IsHeldByAnother(IOException e) =>
        e is not (FileNotFoundException or DirectoryNotFoundException)
        && (OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33 : e.HResult is 11 or 35);
}
