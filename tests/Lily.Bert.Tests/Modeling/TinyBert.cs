using Lily.Bert.Modeling;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Modeling;

/// <summary>A small random BERT for tests: 2 layers, hidden 32, 4 heads, vocab 50.</summary>
internal static class TinyBert
{
    public static BertConfig Config { get; } = new()
    {
        VocabSize = 50,
        HiddenSize = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 16,
    };

    public static BertConfig MiniLm { get; } = new()
    {
        VocabSize = 30522,
        HiddenSize = 384,
        NumHiddenLayers = 6,
        NumAttentionHeads = 12,
        IntermediateSize = 1536,
        MaxPositionEmbeddings = 512,
        TypeVocabSize = 2,
    };

    /// <summary>A model in eval mode whose every parameter is random (not the zero biases / unit norms of a fresh init),
    /// so a wrongly wired or skipped tensor changes the output.</summary>
    public static BertModel Create(long seed, bool pooler = true, ScalarType dtype = ScalarType.Float32)
    {
        var model = new BertModel(Config, pooler, dtype: dtype);
        Randomize(model, seed);
        model.eval();
        return model;
    }

    public static void Randomize(nn.Module module, long seed)
    {
        var generator = new Generator((ulong)seed);
        using var guard = no_grad();
        foreach (var p in module.parameters())
        {
            using var r = randn(p.shape, dtype: p.dtype, generator: generator);
            p.copy_(r * 0.5);
        }
    }

    public static Tensor Ids(long seed, long batch, long length)
    {
        var generator = new Generator((ulong)seed);
        return randint(1, Config.VocabSize, [batch, length], dtype: ScalarType.Int64, generator: generator);
    }

    /// <summary>Every parameter of embeddings + transformer layers + pooler, by the closed formula.</summary>
    public static long ParameterCount(BertConfig c, bool pooler)
    {
        long h = c.HiddenSize, i = c.IntermediateSize;
        var embeddings = (c.VocabSize + c.MaxPositionEmbeddings + c.TypeVocabSize) * h + 2 * h;
        var attention = 4 * (h * h + h) + 2 * h;
        var feedForward = (h * i + i) + (i * h + h) + 2 * h;
        return embeddings + c.NumHiddenLayers * (attention + feedForward) + (pooler ? h * h + h : 0);
    }

    /// <summary>Same dtype, same shape, every element equal.</summary>
    public static bool BitEqual(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var same = a.eq(b).all();
        return same.item<bool>();
    }

    public static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
}
