using System.Text;
using Lily.Tuners;
using Microsoft.Extensions.Logging;

namespace Lily.Serialization;

/// <summary>
/// The two files of one saved adapter, <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>:
/// reading them with errors that name the file, and replacing them together.
/// </summary>
internal static class AdapterFiles
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>One adapter's content to write into one directory.</summary>
    internal sealed record Payload(string Directory, string ConfigJson, List<KeyValuePair<string, torch.Tensor>> Tensors, Dictionary<string, string> Metadata);

    /// <summary>Reads and validates the config in <paramref name="directory"/>, changing nothing on disk.</summary>
    public static PeftConfig ReadConfig(string directory, ILogger? logger = null) =>
        ParseConfig(AdapterSnapshot.Read(directory, withWeights: false, logger), logger);

    /// <summary>Reads and validates the config and the weights in <paramref name="directory"/> as one whole pair.</summary>
    public static (PeftConfig Config, SafeTensorsReader Weights) Read(string directory, ILogger? logger = null)
    {
        var snapshot = AdapterSnapshot.Read(directory, withWeights: true, logger);
        return (ParseConfig(snapshot, logger), snapshot.Weights!);
    }

    private static PeftConfig ParseConfig(AdapterSnapshot snapshot, ILogger? logger)
    {
        string json;
        try
        {
            json = StrictUtf8.GetString(snapshot.ConfigBytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{snapshot.ConfigPath}: not valid UTF-8 (byte {e.Index}).", e);
        }

        // A byte order mark is tolerated, as Python's json.load of a utf-8-sig file would.
        return AdapterConfigFile.FromJson(json.TrimStart('\uFEFF'), snapshot.ConfigPath, logger);
    }

    /// <summary>
    /// Replaces both files in <paramref name="directory"/> (created if needed) together: a crash or a
    /// failure at any point leaves either the complete old pair or, once recovered, the complete new one.
    /// </summary>
    public static void Write(string directory, string configJson, List<KeyValuePair<string, torch.Tensor>> tensors, Dictionary<string, string> metadata) =>
        WriteAll([new Payload(directory, configJson, tensors, metadata)]);

    /// <summary>
    /// Replaces several adapters' pairs (see <see cref="AdapterFilePair.WriteAll"/>): every directory is checked and
    /// every file written before the first pair is replaced.
    /// </summary>
    /// <param name="payloads">Distinct directories; a directory that does not exist is created.</param>
    /// <param name="faultAt">Test hook (directory, step), see <see cref="AdapterFilePair.WriteAll"/>.</param>
    public static void WriteAll(IReadOnlyList<Payload> payloads, Action<string, string>? faultAt = null)
    {
        foreach (var p in payloads) Directory.CreateDirectory(p.Directory);
        AdapterFilePair.WriteAll(payloads.Select(p =>
        {
            var configBytes = StrictUtf8.GetBytes(p.ConfigJson);
            // The stamp lets a reader prove that the config it read is the one saved with these weights; the weights
            // are renamed first, so a reader that finds weights without a stamp knows no save of ours had begun.
            var metadata = new Dictionary<string, string>(p.Metadata) { [AdapterSnapshot.ConfigStampKey] = CommitRecord.Sha256Of(configBytes) };
            return new AdapterFilePair.Target(p.Directory,
            [
                new PendingFile(AdapterWeightsFile.FileName, s => SafeTensorsWriter.Write(s, p.Tensors, metadata)),
                new PendingFile(AdapterConfigFile.FileName, s => s.Write(configBytes)),
            ]);
        }).ToList(), faultAt);
    }
}
