namespace Lily.Bert.Pretrained;

/// <summary>A bundled model converted to a Hugging Face checkpoint folder in the cache.</summary>
/// <param name="Model">Which model.</param>
/// <param name="Directory">The folder holding <c>config.json</c>, <c>model.safetensors</c> and <c>vocab.txt</c>.</param>
/// <param name="LowerCase">Whether the tokenizer lower-cases (and strips accents from) text: the model is uncased.</param>
public sealed record PreparedCheckpoint(BundledModel Model, string Directory, bool LowerCase)
{
    /// <summary>The WordPiece vocabulary, one token per line.</summary>
    public string VocabPath => Path.Combine(Directory, BundledCheckpoints.VocabFileName);

    /// <summary>The Hugging Face <c>config.json</c>.</summary>
    public string ConfigPath => Path.Combine(Directory, Conversion.OnnxBertConverter.ConfigFileName);

    /// <summary>The weights, <c>model.safetensors</c>.</summary>
    public string WeightsPath => Path.Combine(Directory, Conversion.OnnxBertConverter.WeightsFileName);
}
