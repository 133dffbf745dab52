using static TorchSharp.torch;

namespace Lily.TextClassification.Training;

/// <summary>
/// A split tokenized once: token ids and attention masks <c>[N, maxLength]</c> (int64) and labels <c>[N]</c>,
/// kept on the CPU. Batches are cut to their longest real sequence, so short examples cost less.
/// </summary>
public sealed class EncodedExamples : IDisposable
{
    /// <summary>Takes ownership of the tensors.</summary>
    public EncodedExamples(Tensor inputIds, Tensor attentionMask, Tensor labels)
    {
        if (inputIds.ndim != 2 || !inputIds.shape.SequenceEqual(attentionMask.shape) || labels.ndim != 1 || labels.shape[0] != inputIds.shape[0])
            throw new ArgumentException($"Expected ids and mask [N, T] and labels [N]; got {Shape(inputIds)}, {Shape(attentionMask)}, {Shape(labels)}.");
        InputIds = inputIds;
        AttentionMask = attentionMask;
        Labels = labels;
        // Real tokens per example, read once: a batch's length is the largest of its rows.
        Lengths = attentionMask.sum(1).data<long>().ToArray();
        LabelArray = labels.data<long>().ToArray();
    }

    /// <summary>Token ids <c>[N, maxLength]</c>.</summary>
    public Tensor InputIds { get; }

    /// <summary>1 for a real token, 0 for padding <c>[N, maxLength]</c>.</summary>
    public Tensor AttentionMask { get; }

    /// <summary>Class indices <c>[N]</c>.</summary>
    public Tensor Labels { get; }

    /// <summary>Real tokens of each example.</summary>
    public IReadOnlyList<long> Lengths { get; }

    /// <summary>The labels as numbers.</summary>
    public IReadOnlyList<long> LabelArray { get; }

    /// <summary>Number of examples.</summary>
    public int Count => (int)Labels.shape[0];

    /// <summary>
    /// The rows <paramref name="indices"/> as a batch, cut to the longest real sequence among them. The tensors
    /// belong to the caller's dispose scope.
    /// </summary>
    public (Tensor Ids, Tensor Mask, Tensor Labels) Batch(IReadOnlyList<int> indices)
    {
        long length = Math.Max(1, indices.Max(i => Lengths[i]));
        using var index = tensor(indices.Select(i => (long)i).ToArray());
        var ids = InputIds.index_select(0, index).narrow(1, 0, length);
        var mask = AttentionMask.index_select(0, index).narrow(1, 0, length);
        return (ids, mask, Labels.index_select(0, index));
    }

    /// <summary>The examples in batches of <paramref name="batchSize"/>, in a seeded random order or in order.</summary>
    public IEnumerable<int[]> BatchIndices(int batchSize, Random? shuffle)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        shuffle?.Shuffle(order);
        for (int start = 0; start < order.Length; start += batchSize)
            yield return order[start..Math.Min(order.Length, start + batchSize)];
    }

    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        Labels.Dispose();
    }

    private static string Shape(Tensor t) => $"[{string.Join(", ", t.shape)}]";
}
