using Lily.Bert.Tokenization;
using Lily.TextClassification.Data;
using static TorchSharp.torch;

namespace Lily.TextClassification.Training;

/// <summary>Tokenizes a list of examples once into an <see cref="EncodedExamples"/>.</summary>
public static class Encoding
{
    /// <summary>Ids, masks and labels of <paramref name="examples"/>, each cut or padded to <paramref name="maxLength"/> word pieces.</summary>
    public static EncodedExamples Of(TextEncoder encoder, IReadOnlyList<TextExample> examples, int maxLength)
    {
        if (examples.Count == 0) throw new ArgumentException("There are no examples to encode.", nameof(examples));
        using var batch = encoder.Encode(examples.Select(e => e.Text).ToList(), maxLength);
        return new EncodedExamples(batch.InputIds.clone(), batch.AttentionMask.clone(), tensor(examples.Select(e => (long)e.Label).ToArray()));
    }
}
