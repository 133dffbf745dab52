using Microsoft.Extensions.Logging;

namespace Lily.Serialization;

/// <summary>
/// Reads an adapter directory's pair as one whole: the config and weights of one save, never a mix, even while a
/// writer (in this process or another) is replacing them. Changes nothing on disk: no lock file is created, no
/// leftover is deleted, no interrupted save is completed.
/// </summary>
/// <remarks>
/// <para>
/// Every weights file this library writes carries, in its metadata (<see cref="ConfigStampKey"/>), the SHA-256 of
/// the config written with it, and the writer renames the weights into place before the config. A reader reads the
/// config first and the weights second, so a weights file without a stamp was there before any save of this library
/// began and the config read before it is its partner; a weights file whose stamp is the config's hash is, byte for
/// byte, the pair one save wrote. Only a stamp that does not match needs more: the read is retried, and accepted as
/// it is only when no writer ran between two lock probes (then the config was edited by hand after the save).
/// </para>
/// <para>
/// The two final files may be symbolic links to regular files (a Hugging Face cache snapshot is made of such links)
/// and are read through them; pending files and the commit record never are.
/// </para>
/// <para>
/// A commit record left by a crashed save (no writer holds the lock) is read through: each file the record names is
/// read from its pending copy if that is still there, and checked against the record's length and SHA-256, which is
/// the pair the next save's recovery will install.
/// </para>
/// </remarks>
internal sealed class AdapterSnapshot
{
    /// <summary>The weights metadata key holding the SHA-256 of the config saved with them.</summary>
    public const string ConfigStampKey = "lily.config_sha256";

    /// <summary>
    /// Largest <c>adapter_config.json</c> read; PEFT's are a few kilobytes (a rank_pattern naming every layer of a large
    /// model, tens). Parsing costs a multiple of the size, so the cap bounds what a hostile config can make a load
    /// allocate (issue 24: 16 MiB let a corpus of such configs grow the peak by about 650 MiB).
    /// </summary>
    internal const long MaxConfigBytes = 1L << 20;

    // Enough for a reader to outlast any single save's rename window many times over (each attempt sleeps a little).
    private const int MaxAttempts = 2000;

    private AdapterSnapshot(byte[] configBytes, string configPath, SafeTensorsReader? weights)
    {
        ConfigBytes = configBytes;
        ConfigPath = configPath;
        Weights = weights;
    }

    /// <summary>The config file's bytes.</summary>
    public byte[] ConfigBytes { get; }

    /// <summary>The config's path, for messages.</summary>
    public string ConfigPath { get; }

    /// <summary>The weights, when they were asked for.</summary>
    public SafeTensorsReader? Weights { get; }

    /// <summary>Reads the config (and, if <paramref name="withWeights"/>, the weights) of <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not a regular file, too large, malformed, or an interrupted save cannot be read through.</exception>
    /// <exception cref="IOException">Writers kept changing the directory for the whole of the retries.</exception>
    public static AdapterSnapshot Read(string directory, bool withWeights, ILogger? logger = null)
    {
        directory = Path.GetFullPath(directory);
        var configPath = Path.Combine(directory, AdapterConfigFile.FileName);
        var weightsPath = Path.Combine(directory, AdapterWeightsFile.FileName);
        var recordPath = Path.Combine(directory, CommitRecord.FileName);
        ulong? mismatchSeenAt = null;
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (attempt > 0) Thread.Sleep(attempt < 20 ? 1 : 5);
            var folder = FolderIdentity(directory);
            var before = DirectoryLock.Probe(directory);
            if (RegularFile.KindOf(recordPath) != RegularFile.Kind.Missing)
            {
                if (before.Busy) continue;      // a save is at work: its renames are about to finish
                if (ReadThroughRecord(directory, recordPath, withWeights, before) is { } recovered) return recovered;
                continue;
            }

            var config = ReadConfigBytes(configPath);
            if (!withWeights) return new AdapterSnapshot(config, configPath, null);
            var weights = ReadWeights(weightsPath, weightsPath);
            // The folder itself replaced between the two reads (a symbolic link switched, a folder renamed over
            // it): the config and the weights may come from two folders. Read both again.
            if (FolderIdentity(directory) != folder) continue;
            if (!weights.Metadata.TryGetValue(ConfigStampKey, out var stamp) || stamp == CommitRecord.Sha256Of(config))
                return new AdapterSnapshot(config, configPath, weights);

            // A mismatch is a read that straddled a save's two renames, unless nothing ran while it was read.
            var after = DirectoryLock.Probe(directory);
            bool quiet = !before.Busy && !after.Busy && before.Generation == after.Generation
                && RegularFile.KindOf(recordPath) == RegularFile.Kind.Missing;
            if (quiet && mismatchSeenAt == after.Generation)
            {
                logger?.LogWarning(
                    "{Config} is not the config saved with {Weights} (it was changed after the save); loading it as it is.",
                    configPath, weightsPath);
                return new AdapterSnapshot(config, configPath, weights);
            }

            mismatchSeenAt = quiet ? after.Generation : null;
        }

        throw new IOException(
            $"The adapter in '{directory}' kept changing while it was read ({MaxAttempts} attempts): saves into it never paused. Try again.");
    }

    // What names the folder now: the path's own entry (a symbolic link is its own) and the folder it leads to.
    // Another folder swapped in changes one of them; null parts where the platform cannot tell (then only the
    // lock generations below guard the pair).
    private static ((ulong, ulong)? Entry, (ulong, ulong)? Target) FolderIdentity(string directory)
    {
        var entry = RegularFile.IdentityOf(directory);
        string? target = null;
        try
        {
            target = Directory.ResolveLinkTarget(directory, returnFinalTarget: true)?.FullName;
        }
        catch (IOException)
        {
            // The folder is gone or changing: the reads that follow say so, naming the adapter's files.
        }
        return (entry, target is null ? entry : RegularFile.IdentityOf(target));
    }

    // The pair an interrupted save committed, read without completing it; null when the directory changed meanwhile.
    private static AdapterSnapshot? ReadThroughRecord(string directory, string recordPath, bool withWeights, DirectoryLock.State before)
    {
        CommitRecord record;
        try
        {
            record = CommitRecord.Read(recordPath);
        }
        catch (FileNotFoundException)
        {
            return null;    // the save finished meanwhile
        }

        try
        {
            var config = ReadRecorded(directory, recordPath, record, AdapterConfigFile.FileName, (path, final) => ReadConfigBytes(path, final));
            var weights = withWeights
                ? ReadRecorded(directory, recordPath, record, AdapterWeightsFile.FileName, (path, final) => RegularFile.ReadAllBytes(path, long.MaxValue, throughLink: final))
                : null;
            var configPath = Path.Combine(directory, AdapterConfigFile.FileName);
            var weightsPath = Path.Combine(directory, AdapterWeightsFile.FileName);
            return new AdapterSnapshot(config, configPath, weights is null ? null : ParseWeights(weights, weightsPath));
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            // A writer that started since the probe may have renamed or replaced what was read: look again.
            var after = DirectoryLock.Probe(directory);
            if (after.Busy || after.Generation != before.Generation || RegularFile.KindOf(recordPath) == RegularFile.Kind.Missing) return null;
            throw;
        }
    }

    // One file as the record says it will be: its pending copy while that exists, else the final file; either must
    // have the recorded length and hash. A file the record does not name is read as it is.
    // read gets the path and whether it is the final file (which may be read through a link; a pending file never).
    private static byte[] ReadRecorded(string directory, string recordPath, CommitRecord record, string name, Func<string, bool, byte[]> read)
    {
        var finalPath = Path.Combine(directory, name);
        var entry = record.Entries.FirstOrDefault(e => e.Final == name);
        if (entry is null) return read(finalPath, true);
        AdapterFilePair.Verify(recordPath, directory, entry);
        var pendingPath = Path.Combine(directory, entry.Pending);
        bool pending = RegularFile.KindOf(pendingPath) == RegularFile.Kind.Regular;
        var bytes = read(pending ? pendingPath : finalPath, !pending);
        if (bytes.Length != entry.Length || CommitRecord.Sha256Of(bytes) != entry.Sha256)
            throw new IOException($"'{finalPath}' changed while the interrupted save recorded in '{recordPath}' was read through.");
        return bytes;
    }

    private static byte[] ReadConfigBytes(string path, bool throughLink = true)
    {
        if (RegularFile.KindOf(path) == RegularFile.Kind.Missing)
            throw new FileNotFoundException($"No {AdapterConfigFile.FileName} in '{Path.GetDirectoryName(path)}'.", path);
        return RegularFile.ReadAllBytes(path, MaxConfigBytes, throughLink);
    }

    private static SafeTensorsReader ReadWeights(string path, string source)
    {
        if (RegularFile.KindOf(path) == RegularFile.Kind.Missing)
            throw new FileNotFoundException($"No {AdapterWeightsFile.FileName} in '{Path.GetDirectoryName(path)}'.", path);
        using var stream = RegularFile.OpenRead(path, throughLink: true);
        try
        {
            return SafeTensorsReader.Read(stream, source);
        }
        catch (SafeTensorsFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    private static SafeTensorsReader ParseWeights(byte[] bytes, string source)
    {
        try
        {
            return SafeTensorsReader.Read(bytes, source);
        }
        catch (SafeTensorsFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }
}
