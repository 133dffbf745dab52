using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// Reads and writes whole safetensors files (Hugging Face's tensor format) for code outside the adapter files:
/// pretrained checkpoints, converted weights. The same validated reader and atomic writer serve the adapter files.
/// </summary>
public static class SafeTensorsFile
{
    /// <summary>Reads every tensor of a safetensors file, after validating the whole file.</summary>
    /// <param name="path">The file; error messages name it as given.</param>
    /// <returns>The tensors by name (CPU, the stored dtype) and the header's <c>__metadata__</c> strings. The caller owns the tensors.</returns>
    /// <exception cref="SafeTensorsFormatException">The file is not well-formed safetensors (the message names the file and the tensor).</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static (Dictionary<string, torch.Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path)
    {
        var reader = SafeTensorsReader.ReadFile(path);
        return (reader.ReadTensors(), reader.Metadata);
    }

    /// <summary>Writes tensors to a safetensors file atomically: a failed write leaves any previous file untouched.</summary>
    /// <remarks>The layout is deterministic (sorted like the reference implementation), so the same tensors and
    /// metadata always give the same bytes.</remarks>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="tensors">Name and tensor pairs, on any device; not modified.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings, or <see langword="null"/>.</param>
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => SafeTensorsWriter.Save(path, tensors, metadata);
}
