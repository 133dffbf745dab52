namespace Lily.Serialization;

/// <summary>
/// Replaces a set of files in one directory together (for an adapter: <c>adapter_config.json</c> and
/// <c>adapter_model.safetensors</c>): after a crash at any point, and <see cref="Recover"/>, the directory holds either
/// every previous file or every new one, never a mix.
/// </summary>
/// <remarks>
/// <para>
/// Each file keeps its plain final name (PEFT reads them by name), so the set cannot be swapped with one rename.
/// Instead a small commit protocol runs:
/// (1) each new file is written to a hidden pending file beside its target and flushed to the device;
/// (2) a commit record (<see cref="CommitRecord.FileName"/>) listing every pending file, its final name, length and
/// SHA-256 is written atomically — that rename is the commit point;
/// (3) every pending file is renamed over its final name and the directory is flushed;
/// (4) the record is deleted and the directory flushed.
/// A crash before (2) leaves only pending files, which <see cref="Recover"/> deletes (roll back); a crash after it
/// leaves the record, and <see cref="Recover"/> finishes the renames (roll forward).
/// </para>
/// <para>
/// Only the named files, the pending files and the record are touched: other files and sub-directories (for example
/// other adapters in sub-folders) are left alone. Writers (and recovery) hold the directory's
/// <see cref="DirectoryLock"/>, so there is one at a time; readers take no lock and change nothing (see
/// <see cref="AdapterSnapshot"/>).
/// </para>
/// </remarks>
internal static class AdapterFilePair
{
    /// <summary>Step names passed to the fault hook of <see cref="Write"/>, in the order they happen.</summary>
    internal static class Steps
    {
        /// <summary>A file's pending copy is written and flushed (one step per file, with ":" and its name).</summary>
        public const string TempWritten = "temp-written";

        /// <summary>The commit record is in place: from here on the new files win.</summary>
        public const string Committed = "committed";

        /// <summary>A pending file was renamed over its final name (one step per file, with ":" and its name).</summary>
        public const string Renamed = "renamed";

        /// <summary>The commit record was deleted: the write is complete.</summary>
        public const string RecordDeleted = "record-deleted";
    }

    /// <summary>The files to replace together in one directory.</summary>
    /// <param name="Directory">An existing directory.</param>
    /// <param name="Files">The files to write, with distinct plain names, in the order they are renamed into place.</param>
    internal sealed record Target(string Directory, IReadOnlyList<PendingFile> Files);

    /// <summary>Replaces <paramref name="files"/> in <paramref name="directory"/> together, recovering any interrupted write first.</summary>
    /// <param name="directory">An existing directory.</param>
    /// <param name="files">The files to write, with distinct plain names, in the order they are renamed into place.</param>
    /// <param name="faultAt">
    /// Test hook, called after each step with its name (see <see cref="Steps"/>: <c>temp-written:&lt;file&gt;</c>,
    /// <c>committed</c>, <c>renamed:&lt;file&gt;</c>, <c>record-deleted</c>), so a test can throw there as a crash would stop.
    /// </param>
    /// <exception cref="ArgumentException">A name is not a plain file name, is repeated, or is reserved by the protocol.</exception>
    /// <exception cref="InvalidDataException">An earlier interrupted write cannot be recovered; nothing is changed.</exception>
    /// <exception cref="IOException">Another writer holds the directory's lock too long, or a pending file vanished.</exception>
    /// <remarks>
    /// Holds the directory's <see cref="DirectoryLock"/> throughout. A failure before the commit point (for example
    /// from a content callback) deletes the pending files and leaves the previous files as they were. A failure after
    /// it leaves the commit record, and the next <see cref="Recover"/> (run by every <see cref="Write"/>) completes it.
    /// </remarks>
    public static void Write(string directory, IReadOnlyList<PendingFile> files, Action<string>? faultAt = null) =>
        WriteAll([new Target(directory, files)], faultAt is null ? null : (_, step) => faultAt(step));

    /// <summary>
    /// Replaces the files of several directories (an adapter and its siblings in sub-folders): every directory is
    /// locked, recovered and checked, and every pending file of every directory is written and flushed, before the
    /// first commit point. So a failure while producing or writing content changes no directory at all.
    /// </summary>
    /// <param name="targets">Distinct directories, each with its files; committed in this order.</param>
    /// <param name="faultAt">Test hook: the directory (full path) and the step, as for <see cref="Write"/>.</param>
    /// <remarks>
    /// The directories are then committed one after the other. Only writing one small commit record per directory
    /// remains between the first commit point and the last, and a failure there (a disk that fills up at that moment,
    /// a crash) leaves the earlier directories new and the later ones old, each of them whole.
    /// </remarks>
    public static void WriteAll(IReadOnlyList<Target> targets, Action<string, string>? faultAt = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count == 0) throw new ArgumentException("There must be at least one directory to write.", nameof(targets));
        var full = targets.Select(t =>
        {
            ArgumentException.ThrowIfNullOrEmpty(t.Directory);
            var directory = Path.GetFullPath(t.Directory);
            CheckNames(directory, t.Files);
            return t with { Directory = directory };
        }).ToList();
        if (full.Select(t => t.Directory).Distinct().Count() != full.Count)
            throw new ArgumentException("A directory is listed twice.", nameof(targets));

        var locks = new List<DirectoryLock>();
        try
        {
            foreach (var t in full) locks.Add(DirectoryLock.Acquire(t.Directory));
            foreach (var t in full) RecoverLocked(t.Directory);
            var prepared = new List<(string Directory, CommitRecord Record)>();
            try
            {
                foreach (var t in full) prepared.Add((t.Directory, WritePending(t, step => faultAt?.Invoke(t.Directory, step))));
            }
            catch
            {
                foreach (var p in prepared) DeletePending(p.Directory, p.Record);
                throw;
            }

            for (int i = 0; i < prepared.Count; i++)
            {
                var (directory, record) = prepared[i];
                var recordPath = Path.Combine(directory, CommitRecord.FileName);
                try
                {
                    // The record's own write flushes the directory, which also makes the pending files' entries
                    // durable before (or with) the record that names them.
                    record.Write(recordPath);
                }
                catch
                {
                    // If the record got into place despite the failure (say, flushing the directory failed after the
                    // rename) the write is committed and its pending files must stay for recovery.
                    int first = File.Exists(recordPath) ? i + 1 : i;
                    foreach (var (d, r) in prepared.Skip(first)) DeletePending(d, r);
                    throw;
                }

                faultAt?.Invoke(directory, Steps.Committed);
                Complete(directory, recordPath, record, step => faultAt?.Invoke(directory, step), recovering: false);
            }
        }
        finally
        {
            for (int i = locks.Count - 1; i >= 0; i--) locks[i].Dispose();
        }
    }

    // Step 1 for one directory: every pending file written, flushed and measured. On failure, deletes its own.
    private static CommitRecord WritePending(Target target, Action<string> faultAt)
    {
        var entries = new List<CommitRecord.Entry>();
        var record = new CommitRecord(entries);
        var written = new List<string>();
        try
        {
            foreach (var file in target.Files)
            {
                var pendingPath = AtomicFile.TempPathFor(target.Directory, file.FileName, CommitRecord.PendingExtension);
                written.Add(pendingPath);
                AtomicFile.WriteNew(pendingPath, file.WriteContent);
                // Measured from disk, not while writing: the callback may seek, and this is what recovery will check.
                var (length, sha256) = CommitRecord.Measure(pendingPath);
                entries.Add(new CommitRecord.Entry(Path.GetFileName(pendingPath), file.FileName, length, sha256));
                faultAt($"{Steps.TempWritten}:{file.FileName}");
            }
        }
        catch
        {
            foreach (var path in written) AtomicFile.TryDelete(path);
            throw;
        }

        return record;
    }

    private static void DeletePending(string directory, CommitRecord record)
    {
        foreach (var entry in record.Entries) AtomicFile.TryDelete(Path.Combine(directory, entry.Pending));
    }

    /// <summary>
    /// Finishes or undoes a <see cref="Write"/> that was interrupted in <paramref name="directory"/>: rolls forward if
    /// a commit record is there, otherwise deletes leftover pending files. Does nothing if there is nothing to do.
    /// Takes the directory's lock, so it never runs beside a writer.
    /// </summary>
    /// <param name="directory">The directory; if it does not exist there is nothing to recover.</param>
    /// <exception cref="InvalidDataException">
    /// The commit record is malformed, or a file it names does not have the recorded length and SHA-256 (so it
    /// cannot be completed safely); the message names the files. Every check is made before any rename, so
    /// nothing is changed.
    /// </exception>
    public static void Recover(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory)) return;
        using var held = DirectoryLock.Acquire(directory);
        RecoverLocked(directory);
    }

    private static void RecoverLocked(string directory)
    {
        var recordPath = Path.Combine(directory, CommitRecord.FileName);
        if (RegularFile.KindOf(recordPath) != RegularFile.Kind.Missing)
        {
            var record = CommitRecord.Read(recordPath);
            foreach (var entry in record.Entries) Verify(recordPath, directory, entry);
            Complete(directory, recordPath, record, faultAt: null, recovering: true);
        }

        // With no record (or once it is completed) any pending file is from a write that never committed: no other
        // writer can be at work, since this one holds the lock. Deleting a symbolic link deletes the link only.
        bool deleted = false;
        foreach (var path in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            if (CommitRecord.IsPendingName(name) || CommitRecord.IsRecordTempName(name))
            {
                File.Delete(path);
                deleted = true;
            }
        }

        if (deleted) DirectorySync.Flush(directory);
    }

    // Steps 3 and 4, shared by Write and the roll forward of Recover. When recovering, entries whose pending file is
    // gone were renamed before an interruption (Verify has checked their final files); when writing, a missing
    // pending file means something else changed the directory, and the save must not report success.
    private static void Complete(string directory, string recordPath, CommitRecord record, Action<string>? faultAt, bool recovering)
    {
        foreach (var entry in record.Entries)
        {
            var pendingPath = Path.Combine(directory, entry.Pending);
            var kind = RegularFile.KindOf(pendingPath);
            if (kind == RegularFile.Kind.Missing && recovering) continue;
            if (kind != RegularFile.Kind.Regular)
            {
                throw new IOException(
                    $"The save into '{directory}' lost its pending file '{pendingPath}' for '{entry.Final}' (it is now " +
                    $"{RegularFile.Describe(kind)}): something outside this library changed the directory during the save. " +
                    $"The commit record '{recordPath}' is kept; the next save or load reports what to do.");
            }

            File.Move(pendingPath, Path.Combine(directory, entry.Final), overwrite: true);
            faultAt?.Invoke($"{Steps.Renamed}:{entry.Final}");
        }

        // The renames must be durable before the record that would redo them disappears.
        DirectorySync.Flush(directory);
        File.Delete(recordPath);
        DirectorySync.Flush(directory);
        faultAt?.Invoke(Steps.RecordDeleted);
    }

    // A committed entry can be completed if its pending file is intact, or if it was already renamed and the final
    // file is the recorded one. Anything else means the files changed behind the protocol's back.
    internal static void Verify(string recordPath, string directory, CommitRecord.Entry entry)
    {
        var pendingPath = Path.Combine(directory, entry.Pending);
        var finalPath = Path.Combine(directory, entry.Final);
        string expected = $"{entry.Length} bytes with SHA-256 {entry.Sha256}";
        // Never followed, never hashed: a symbolic link (to a file with the right hash, say) is not the file written.
        var pendingKind = RegularFile.KindOf(pendingPath);
        if (pendingKind is not (RegularFile.Kind.Missing or RegularFile.Kind.Regular))
        {
            throw new InvalidDataException(
                $"Cannot complete the interrupted save recorded in '{recordPath}': the pending file '{pendingPath}' is " +
                $"{RegularFile.Describe(pendingKind)}, not the regular file the save wrote. Nothing was renamed.");
        }

        if (pendingKind == RegularFile.Kind.Regular)
        {
            var (length, sha256) = CommitRecord.Measure(pendingPath);
            if (length != entry.Length || sha256 != entry.Sha256)
            {
                throw new InvalidDataException(
                    $"Cannot complete the interrupted save recorded in '{recordPath}': the pending file '{pendingPath}' for " +
                    $"'{entry.Final}' is {length} bytes with SHA-256 {sha256}, but the record says {expected}. It was damaged " +
                    "after the save committed. Nothing was renamed; restore the files from a backup, or delete the record " +
                    "and the pending files to keep the files as they are.");
            }

            return;
        }

        var finalKind = RegularFile.KindOf(finalPath);
        if (finalKind is not (RegularFile.Kind.Missing or RegularFile.Kind.Regular))
        {
            throw new InvalidDataException(
                $"Cannot complete the interrupted save recorded in '{recordPath}': '{finalPath}' is " +
                $"{RegularFile.Describe(finalKind)}, not a regular file. Nothing was renamed.");
        }

        var actual = finalKind == RegularFile.Kind.Regular ? CommitRecord.Measure(finalPath) : default((long Length, string Sha256)?);
        if (actual is not { } found || found.Length != entry.Length || found.Sha256 != entry.Sha256)
        {
            var what = actual is { } f ? $"is {f.Length} bytes with SHA-256 {f.Sha256}" : "does not exist";
            throw new InvalidDataException(
                $"Cannot complete the interrupted save recorded in '{recordPath}': the pending file '{pendingPath}' is " +
                $"missing, so '{entry.Final}' should already be the new file ({expected}), but it {what}. The save " +
                "protocol never leaves this state; the directory was changed by something else. Nothing was renamed.");
        }
    }

    private static void CheckNames(string directory, IReadOnlyList<PendingFile> files)
    {
        if (files.Count == 0) throw new ArgumentException("There must be at least one file to write.", nameof(files));
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file, nameof(files));
            ArgumentNullException.ThrowIfNull(file.WriteContent, nameof(files));
            var name = file.FileName;
            if (name is null || !CommitRecord.IsPlainFileName(name))
                throw new ArgumentException($"'{name}' is not a plain file name inside the directory.", nameof(files));
            if (name is CommitRecord.FileName or DirectoryLock.FileName || CommitRecord.IsPendingName(name) || CommitRecord.IsRecordTempName(name))
                throw new ArgumentException($"'{name}' is reserved for the save protocol's own files.", nameof(files));
            if (!names.Add(name))
                throw new ArgumentException($"'{name}' is listed twice (names are compared ignoring case).", nameof(files));
            // Refused now rather than discovered by a rename after the commit point.
            AtomicFile.ResolveTarget(Path.Combine(directory, name));
        }
    }
}
