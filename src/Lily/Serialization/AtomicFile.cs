using System.Text;

namespace Lily.Serialization;

/// <summary>
/// Replaces a file all at once: readers (and a crash) see either the old content or the new, never a half-written file.
/// </summary>
/// <remarks>
/// The content goes to a temporary file in the same directory (so the final rename stays on one file system and is
/// atomic), is flushed to the disk, and is then renamed over the target. If writing fails the temporary file is
/// deleted and the previous file is left exactly as it was.
/// </remarks>
internal static class AtomicFile
{
    // Keeps the temporary file's name under the usual 255-byte limit even for long target names.
    private const int MaxTempNamePrefix = 100;

    /// <summary>The extension of the temporary files <see cref="Write"/> creates.</summary>
    internal const string TempExtension = ".tmp";

    /// <summary>Writes a file atomically through a callback.</summary>
    /// <param name="path">The file to create or replace. Its directory must exist.</param>
    /// <param name="write">Writes the whole content to the stream it is given; must not dispose the stream.</param>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <remarks>Any exception from <paramref name="write"/> propagates unchanged after the temporary file is removed.</remarks>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);

        var (fullPath, directory) = ResolveTarget(path);
        var tempPath = TempPathFor(directory, Path.GetFileName(fullPath), TempExtension);
        WriteNew(tempPath, write);
        try
        {
            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(tempPath);
            throw;
        }

        // Makes the rename itself durable: without it a power loss could bring back the old directory entry.
        DirectorySync.Flush(directory);
    }

    /// <summary>
    /// The full path of <paramref name="path"/> and its directory, after checking that the directory exists and
    /// that the path is not itself a directory (so a doomed write is refused before any content is produced).
    /// </summary>
    internal static (string FullPath, string Directory) ResolveTarget(string path)
    {
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"'{path}' names a root directory, not a file.", nameof(path));
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Cannot write '{fullPath}': the directory '{directory}' does not exist.");
        }

        if (Directory.Exists(fullPath))
        {
            // Checked now rather than discovered by the final rename, after all the content was written.
            throw new IOException($"Cannot write '{fullPath}': it is a directory.");
        }

        return (fullPath, directory);
    }

    /// <summary>A new, unique, hidden temporary path in <paramref name="directory"/> for a file called <paramref name="name"/>.</summary>
    /// <remarks>
    /// In the target's own directory so the final rename stays on one file system and is atomic. Hidden (leading dot)
    /// and unique, so concurrent writers of the same target do not collide and directory listings such as
    /// "*.safetensors" do not pick the partial file up.
    /// </remarks>
    internal static string TempPathFor(string directory, string name, string extension)
    {
        var prefix = name.Length > MaxTempNamePrefix ? name[..MaxTempNamePrefix] : name;
        return Path.Combine(directory, $".{prefix}.{Guid.NewGuid():N}{extension}");
    }

    /// <summary>
    /// Creates <paramref name="tempPath"/> (which must not exist), fills it through <paramref name="write"/> and
    /// flushes it to the device; if anything fails the file is deleted and the exception propagates.
    /// </summary>
    internal static void WriteNew(string tempPath, Action<Stream> write)
    {
        try
        {
            using var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
            write(stream);
            // Flush to the device before any rename: otherwise a power loss after the rename could leave the
            // new name pointing at a file whose data never reached the disk.
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            TryDelete(tempPath);
            throw;
        }
    }

    /// <summary>Writes bytes to a file atomically.</summary>
    /// <param name="path">The file to create or replace. Its directory must exist.</param>
    /// <param name="bytes">The complete new content.</param>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Writes text to a file atomically, as UTF-8 without a byte order mark (what JSON readers expect).</summary>
    /// <param name="path">The file to create or replace. Its directory must exist.</param>
    /// <param name="contents">The complete new content.</param>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        WriteAllBytes(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetBytes(contents));
    }

    /// <summary>Deletes a file if it can, ignoring I/O and permission errors.</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
            // Same: never hide the write failure behind a cleanup failure.
        }
    }
}
