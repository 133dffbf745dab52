using Lily.Bert.Modeling;

namespace Lily.Bert.Conversion;

/// <summary>The result of mapping an ONNX BERT graph to Hugging Face's names, before it is written.</summary>
internal sealed class ConvertedBert : IDisposable
{
    public required BertConfig Config { get; init; }

    /// <summary>Every checkpoint tensor by Hugging Face name, sorted by name (ordinal), fp32, [out, in] for Linear weights.</summary>
    public required SortedDictionary<string, torch.Tensor> Tensors { get; init; }

    /// <summary>For each Hugging Face name, the ONNX initializer it came from and whether it was transposed.</summary>
    public required SortedDictionary<string, (string Initializer, bool Transposed)> Sources { get; init; }

    /// <summary>ONNX initializers deliberately left out of the checkpoint, with the reason.</summary>
    public required SortedDictionary<string, string> Unused { get; init; }

    public void Dispose()
    {
        foreach (var tensor in Tensors.Values) tensor.Dispose();
    }
}
