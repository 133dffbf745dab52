using Microsoft.Extensions.Logging;

namespace Lily.Serialization;

/// <summary>
/// The two files of one saved adapter, <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>:
/// reading them with errors that name the file, and replacing them together.
/// </summary>
internal static class AdapterFiles
{
    /// <summary>Reads and validates the config in <paramref name="directory"/>.</summary>
    public static PeftConfig ReadConfig(string directory, ILogger? logger = null)
    {
        // An interrupted save is finished (or discarded) first, so the pair read is always whole.
        if (Directory.Exists(directory)) AdapterFilePair.Recover(directory);
        var path = Path.Combine(directory, AdapterConfigFile.FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"No {AdapterConfigFile.FileName} in '{directory}'.", path);
        return AdapterConfigFile.FromJson(File.ReadAllText(path), path, logger);
    }

    /// <summary>Reads and validates the weights file in <paramref name="directory"/>.</summary>
    public static SafeTensorsReader ReadWeights(string directory)
    {
        var path = Path.Combine(directory, PeftModel.WeightsFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"No {PeftModel.WeightsFileName} in '{directory}'.", path);
        try
        {
            return SafeTensorsReader.ReadFile(path);
        }
        catch (SafeTensorsFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    /// <summary>
    /// Replaces both files in <paramref name="directory"/> (created if needed) together: a crash or a
    /// failure at any point leaves either the complete old pair or, once recovered, the complete new one.
    /// </summary>
    public static void Write(string directory, string configJson, List<KeyValuePair<string, torch.Tensor>> tensors, Dictionary<string, string> metadata)
    {
        Directory.CreateDirectory(directory);
        var configBytes = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(configJson);
        AdapterFilePair.Write(directory,
        [
            new PendingFile(AdapterConfigFile.FileName, s => s.Write(configBytes)),
            new PendingFile(PeftModel.WeightsFileName, s => SafeTensorsWriter.Write(s, tensors, metadata)),
        ]);
    }
}
