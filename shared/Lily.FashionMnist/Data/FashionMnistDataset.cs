using TorchSharp;
using static TorchSharp.torch;

namespace Lily.FashionMnist;

/// <summary>
/// One split of Fashion-MNIST held in memory as tensors, optionally restricted to some classes
/// (relabelled 0..k-1) and to a balanced, seeded subset of samples, with mini-batch iteration.
/// </summary>
/// <remarks>
/// <para>
/// Images are <c>float32 [N, 1, 28, 28]</c>, normalized with the Fashion-MNIST mean and standard
/// deviation; labels are <c>int64 [N]</c>. Both stay on the CPU; <see cref="Trainer"/> moves each
/// batch to the model's device.
/// </para>
/// <para>
/// The dataset owns its two tensors (they are detached from any dispose scope that was open when
/// it was loaded) and frees them in <see cref="Dispose"/>.
/// </para>
/// </remarks>
public sealed class FashionMnistDataset : IDisposable
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>How to get the data, for messages shown to users who do not have it.</summary>
    public const string InstallHint =
        "Install it with `sudo apt-get install dataset-fashion-mnist` (files go to " + DefaultFolder + ") " +
        "or pass `--data <folder>` with a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, " +
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each gzip-compressed with .gz, or plain).";

    /// <summary>The number of classes in Fashion-MNIST.</summary>
    public const int AllClassCount = 10;

    private static readonly string[] AllClassNames =
    [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ];

    private bool _disposed;

    private FashionMnistDataset(Tensor images, Tensor labels, IReadOnlyList<int> classes, IReadOnlyList<string> classNames)
    {
        // Loaded inside someone's dispose scope, the tensors would die with it; the dataset owns them.
        Images = images.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
        Classes = classes;
        ClassNames = classNames;
    }

    /// <summary>The names of the ten Fashion-MNIST classes, indexed by original label.</summary>
    public static IReadOnlyList<string> FashionMnistClassNames => AllClassNames;

    /// <summary>The images, <c>float32 [N, channels, height, width]</c>.</summary>
    public Tensor Images { get; }

    /// <summary>The labels, <c>int64 [N]</c>, in 0..<see cref="NumClasses"/>-1.</summary>
    public Tensor Labels { get; }

    /// <summary>The number of samples.</summary>
    public int Count => (int)Labels.shape[0];

    /// <summary>The number of classes a model for this dataset must output.</summary>
    public int NumClasses => Classes.Count;

    /// <summary>For each label 0..k-1, the original Fashion-MNIST class it stands for.</summary>
    public IReadOnlyList<int> Classes { get; }

    /// <summary>For each label 0..k-1, a readable name.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>
    /// Loads one split of Fashion-MNIST from <paramref name="folder"/>.
    /// </summary>
    /// <param name="split">Training or test file.</param>
    /// <param name="folder">The folder with the IDX files; null for <see cref="DefaultFolder"/>.</param>
    /// <param name="classes">
    /// Original classes to keep, in the order that defines the new labels: <c>[5, 6, 7, 8, 9]</c>
    /// keeps sandals..ankle boots and relabels them 0..4. Null keeps all ten unchanged.
    /// </param>
    /// <param name="maxSamples">
    /// At most this many samples, drawn with <paramref name="seed"/> and balanced across the kept
    /// classes (their counts differ by at most one where the data allow); null keeps them all.
    /// </param>
    /// <param name="seed">Seeds the choice of the subset; the same seed gives the same samples.</param>
    /// <returns>The dataset; dispose it to free its tensors.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist; the message says how to get the data.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message says how to get the data.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt, or images and labels disagree.</exception>
    public static FashionMnistDataset Load(
        FashionMnistSplit split,
        string? folder = null,
        IReadOnlyList<int>? classes = null,
        int? maxSamples = null,
        int seed = 0)
    {
        folder ??= DefaultFolder;
        var keep = ValidateClasses(classes);
        if (maxSamples is < 0) throw new ArgumentOutOfRangeException(nameof(maxSamples), maxSamples, "Must not be negative.");

        string prefix = split == FashionMnistSplit.Train ? "train" : "t10k";
        string imagesPath = FindFile(folder, $"{prefix}-images-idx3-ubyte");
        string labelsPath = FindFile(folder, $"{prefix}-labels-idx1-ubyte");

        var images = IdxReader.ReadImages(imagesPath);
        var labels = IdxReader.ReadLabels(labelsPath);
        if (images.Count != labels.Length)
        {
            throw new InvalidDataException($"'{Path.GetFileName(imagesPath)}' has {images.Count} images but '{Path.GetFileName(labelsPath)}' has {labels.Length} labels; the two files do not belong together.");
        }
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= AllClassCount)
            {
                throw new InvalidDataException($"'{Path.GetFileName(labelsPath)}': label {labels[i]} at item {i} is not a Fashion-MNIST class (0..9).");
            }
        }

        var chosen = Choose(labels, keep, maxSamples, seed);

        // Relabelled on the byte level so the label tensor is built once.
        var newLabel = new byte[AllClassCount];
        for (int k = 0; k < keep.Count; k++) newLabel[keep[k]] = (byte)k;
        var relabelled = new byte[chosen.Count];
        for (int i = 0; i < chosen.Count; i++) relabelled[i] = newLabel[labels[chosen[i]]];

        using var scope = NewDisposeScope();
        var x = IdxReader.ToImageTensor(images, chosen);
        var y = IdxReader.ToLabelTensor(relabelled);
        return new FashionMnistDataset(x, y, keep, keep.Select(c => AllClassNames[c]).ToArray());
    }

    /// <summary>
    /// Loads the training and the test split with the same class selection; a convenience for
    /// the usual pair.
    /// </summary>
    /// <param name="folder">The folder with the IDX files; null for <see cref="DefaultFolder"/>.</param>
    /// <param name="classes">Original classes to keep, see <see cref="Load"/>; null for all.</param>
    /// <param name="maxTrainSamples">At most this many training samples; null for all.</param>
    /// <param name="maxTestSamples">At most this many test samples; null for all.</param>
    /// <param name="seed">Seeds the choice of the subsets.</param>
    /// <returns>Both splits; the caller disposes both.</returns>
    public static (FashionMnistDataset Train, FashionMnistDataset Test) LoadTrainTest(
        string? folder = null,
        IReadOnlyList<int>? classes = null,
        int? maxTrainSamples = null,
        int? maxTestSamples = null,
        int seed = 0)
    {
        var train = Load(FashionMnistSplit.Train, folder, classes, maxTrainSamples, seed);
        try
        {
            return (train, Load(FashionMnistSplit.Test, folder, classes, maxTestSamples, seed));
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps tensors that already hold data, e.g. synthetic data in tests. The dataset takes
    /// ownership of both tensors.
    /// </summary>
    /// <param name="images">A <c>float32</c> tensor of shape <c>[N, channels, height, width]</c>.</param>
    /// <param name="labels">An <c>int64</c> tensor of shape <c>[N]</c> with values in 0..<paramref name="numClasses"/>-1.</param>
    /// <param name="numClasses">The number of classes.</param>
    /// <returns>The dataset.</returns>
    public static FashionMnistDataset FromTensors(Tensor images, Tensor labels, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);
        if (images.dim() != 4) throw new ArgumentException($"Images must be [N, C, H, W], not [{string.Join(", ", images.shape)}].", nameof(images));
        if (labels.dim() != 1 || labels.shape[0] != images.shape[0])
        {
            throw new ArgumentException($"Labels must be [N] with N = {images.shape[0]}, not [{string.Join(", ", labels.shape)}].", nameof(labels));
        }
        if (labels.dtype != ScalarType.Int64) throw new ArgumentException($"Labels must be int64, not {labels.dtype}.", nameof(labels));
        var ids = Enumerable.Range(0, numClasses).ToArray();
        return new FashionMnistDataset(images, labels, ids, ids.Select(i => $"class {i}").ToArray());
    }

    /// <summary>The number of batches <see cref="Batches"/> yields for <paramref name="batchSize"/>.</summary>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="dropLast">Whether a last, smaller batch is left out.</param>
    /// <returns>The number of batches.</returns>
    public int BatchCount(int batchSize, bool dropLast = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return dropLast ? Count / batchSize : (Count + batchSize - 1) / batchSize;
    }

    /// <summary>
    /// Iterates over the data in mini-batches of (images, labels).
    /// </summary>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="shuffle">Whether to visit the samples in a random order.</param>
    /// <param name="seed">Seeds the order when shuffling; pass e.g. <c>seed + epoch</c> for a new order each epoch.</param>
    /// <param name="dropLast">Whether to leave out a last batch smaller than <paramref name="batchSize"/>.</param>
    /// <returns>
    /// Pairs <c>(X [B, C, H, W] float32, Y [B] int64)</c> on the CPU. A batch is valid until the
    /// iteration moves on: the iterator frees each batch when the next one is requested, and the
    /// last one when the loop ends, so memory stays flat whether or not the loop body opens a
    /// dispose scope. (The batch is made by <c>MoveNext</c>, before a scope opened inside the loop
    /// body exists, so such a scope would not catch it.) Keep a batch beyond that with <c>clone()</c>.
    /// </returns>
    public IEnumerable<(Tensor X, Tensor Y)> Batches(int batchSize, bool shuffle = false, int seed = 0, bool dropLast = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Iterate(batchSize, shuffle, seed, dropLast);
    }

    /// <summary>Frees the image and label tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Images.Dispose();
        Labels.Dispose();
    }

    private IEnumerable<(Tensor X, Tensor Y)> Iterate(int batchSize, bool shuffle, int seed, bool dropLast)
    {
        int n = Count;
        var order = new long[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (shuffle) Shuffle(order, new Random(seed));

        int batches = BatchCount(batchSize, dropLast);
        bool contiguous = !shuffle;
        for (int b = 0; b < batches; b++)
        {
            int start = b * batchSize;
            int length = Math.Min(batchSize, n - start);
            Tensor x, y;
            using (var scope = NewDisposeScope())
            {
                if (contiguous)
                {
                    // In order, a batch is a slice: copy it so freeing the batch never touches the dataset.
                    x = Images.narrow(0, start, length).clone();
                    y = Labels.narrow(0, start, length).clone();
                }
                else
                {
                    var index = tensor(order.AsSpan(start, length).ToArray(), [length]);
                    x = Images.index_select(0, index);
                    y = Labels.index_select(0, index);
                }
                // The iterator owns the batch: no scope (the caller's outer one included) may free it early.
                scope.Detach(x, y);
            }
            try
            {
                yield return (x, y);
            }
            finally
            {
                x.Dispose();
                y.Dispose();
            }
        }
    }

    // Fisher-Yates with System.Random(seed), whose sequence for a given seed is stable across .NET versions.
    private static void Shuffle<T>(T[] items, Random random)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static IReadOnlyList<int> ValidateClasses(IReadOnlyList<int>? classes)
    {
        if (classes is null) return Enumerable.Range(0, AllClassCount).ToArray();
        if (classes.Count == 0) throw new ArgumentException("Keep at least one class.", nameof(classes));
        var seen = new HashSet<int>();
        foreach (int c in classes)
        {
            if (c is < 0 or >= AllClassCount) throw new ArgumentOutOfRangeException(nameof(classes), c, "Fashion-MNIST classes are 0..9.");
            if (!seen.Add(c)) throw new ArgumentException($"Class {c} is listed twice.", nameof(classes));
        }
        return classes.ToArray();
    }

    // The indices of the samples to keep, in file order. With a limit, each class is shuffled
    // with the seed and classes take turns, so a small subset still has every class about equally.
    private static List<int> Choose(byte[] labels, IReadOnlyList<int> keep, int? maxSamples, int seed)
    {
        var perClass = keep.ToDictionary(c => c, _ => new List<int>());
        for (int i = 0; i < labels.Length; i++)
        {
            if (perClass.TryGetValue(labels[i], out var list)) list.Add(i);
        }
        int total = perClass.Values.Sum(l => l.Count);
        if (maxSamples is null || maxSamples >= total) return perClass.Values.SelectMany(l => l).Order().ToList();

        var random = new Random(seed);
        var pools = keep.Select(c => perClass[c].ToArray()).ToArray();
        foreach (var pool in pools) Shuffle(pool, random);
        var chosen = new List<int>(maxSamples.Value);
        for (int round = 0; chosen.Count < maxSamples; round++)
        {
            foreach (var pool in pools)
            {
                if (round < pool.Length && chosen.Count < maxSamples) chosen.Add(pool[round]);
            }
        }
        chosen.Sort();
        return chosen;
    }

    private static string FindFile(string folder, string baseName)
    {
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Fashion-MNIST folder '{folder}' does not exist. {InstallHint}");
        }
        foreach (string candidate in new[] { baseName + ".gz", baseName })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"Fashion-MNIST file '{baseName}.gz' (or '{baseName}') is missing in '{folder}'. {InstallHint}", Path.Combine(folder, baseName + ".gz"));
    }
}
