using static TorchSharp.torch;

namespace Lily.FashionMnist;

/// <summary>
/// Holds a validation set out of a TRAINING set for tuning (the test set is never seen while tuning):
/// each class is shuffled with the seed and its first <c>round(fraction · count)</c> images go to validation,
/// so both parts keep the classes' proportions.
/// </summary>
public static class ValidationSplit
{
    /// <summary>
    /// The positions of the training part and of the validation part of a set with these labels: disjoint,
    /// together every position once, each in ascending order.
    /// </summary>
    /// <param name="labels">The label of each image (0..k-1).</param>
    /// <param name="fraction">Share of each class held out for validation, in (0, 1).</param>
    /// <param name="seed">Seeds the shuffle within each class.</param>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1).</exception>
    public static (int[] Train, int[] Validation) Indices(IReadOnlyList<long> labels, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation fraction must be in (0, 1).");
        var random = new Random(seed);
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            int held = (int)Math.Round(fraction * members.Length, MidpointRounding.AwayFromZero);
            validation.AddRange(members.Take(held));
            train.AddRange(members.Skip(held));
        }
        train.Sort();
        validation.Sort();
        return (train.ToArray(), validation.ToArray());
    }

    /// <summary>
    /// Splits <paramref name="train"/> into a training part and a validation part (see <see cref="Indices"/>);
    /// both are new datasets (copies), <paramref name="train"/> is left as it was.
    /// </summary>
    public static (FashionMnistDataset Train, FashionMnistDataset Validation) Of(FashionMnistDataset train, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(train);
        var (trainAt, validationAt) = Indices(train.Labels.data<long>().ToArray(), fraction, seed);
        return (Subset(train, trainAt), Subset(train, validationAt));
    }

    private static FashionMnistDataset Subset(FashionMnistDataset from, int[] at)
    {
        using var index = tensor(at.Select(i => (long)i).ToArray());
        return FashionMnistDataset.FromTensors(from.Images.index_select(0, index), from.Labels.index_select(0, index), from.NumClasses);
    }
}
