using Lily.FashionMnist;
using static TorchSharp.torch;

namespace Lily.Tests.FashionMnist;

public sealed class FashionMnistDatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lily-fmnist-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A fake Fashion-MNIST folder: `perClass` 2x2 images of each class 0..9, in class-cycling
    // order, whose first pixel is the item index so tests can tell which items were chosen.
    private void WriteFolder(int perClass, bool gzip = true)
    {
        foreach (string prefix in new[] { "train", "t10k" })
        {
            int n = perClass * 10;
            var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
            var pixels = new byte[n * 4];
            for (int i = 0; i < n; i++) pixels[i * 4] = (byte)i;
            var images = IdxReaderTests.IdxBytes(IdxReader.ImageMagic, [n, 2, 2], pixels);
            var labelFile = IdxReaderTests.IdxBytes(IdxReader.LabelMagic, [n], labels);
            string ext = gzip ? ".gz" : "";
            File.WriteAllBytes(Path.Combine(_dir, $"{prefix}-images-idx3-ubyte{ext}"), gzip ? IdxReaderTests.Gzip(images) : images);
            File.WriteAllBytes(Path.Combine(_dir, $"{prefix}-labels-idx1-ubyte{ext}"), gzip ? IdxReaderTests.Gzip(labelFile) : labelFile);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Keeps_the_chosen_classes_and_relabels_them_from_zero(bool gzip)
    {
        WriteFolder(perClass: 3, gzip);

        using var data = FashionMnistDataset.Load(FashionMnistSplit.Train, _dir, classes: [5, 6, 7, 8, 9]);

        data.Count.Should().Be(15);
        data.NumClasses.Should().Be(5);
        data.Classes.Should().Equal(5, 6, 7, 8, 9);
        data.ClassNames[0].Should().Be("Sandal");
        data.Images.shape.Should().Equal(15L, 1L, 2L, 2L);
        // Items 5, 6, ..., 9, 15, ... in file order, labels shifted down by 5.
        data.Labels.data<long>().ToArray().Should().Equal(0L, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4);
    }

    [Fact]
    public void A_sample_limit_is_balanced_across_classes_and_repeatable()
    {
        WriteFolder(perClass: 6);

        using var a = FashionMnistDataset.Load(FashionMnistSplit.Test, _dir, classes: [0, 1, 2], maxSamples: 7, seed: 3);
        using var b = FashionMnistDataset.Load(FashionMnistSplit.Test, _dir, classes: [0, 1, 2], maxSamples: 7, seed: 3);

        a.Count.Should().Be(7);
        var counts = a.Labels.data<long>().ToArray().GroupBy(l => l).Select(g => g.Count()).ToArray();
        counts.Should().HaveCount(3).And.OnlyContain(c => c == 2 || c == 3);
        a.Images.equal(b.Images).all().item<bool>().Should().BeTrue();
        a.Labels.equal(b.Labels).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void A_missing_folder_says_how_to_get_the_data()
    {
        var act = () => FashionMnistDataset.Load(FashionMnistSplit.Train, Path.Combine(_dir, "absent"));

        act.Should().Throw<DirectoryNotFoundException>()
            .WithMessage("*absent*sudo apt-get install dataset-fashion-mnist*--data <folder>*");
    }

    [Fact]
    public void A_missing_file_says_which_and_how_to_get_the_data()
    {
        var act = () => FashionMnistDataset.Load(FashionMnistSplit.Test, _dir);

        act.Should().Throw<FileNotFoundException>()
            .WithMessage("*t10k-images-idx3-ubyte*sudo apt-get install dataset-fashion-mnist*--data <folder>*");
    }

    [Fact]
    public void Batches_cover_every_sample_once_in_a_seeded_order()
    {
        using var data = FashionMnistDataset.FromTensors(
            arange(10, dtype: ScalarType.Float32).reshape(10, 1, 1, 1), arange(10, dtype: ScalarType.Int64), 10);

        List<long> Order(int seed) =>
            data.Batches(4, shuffle: true, seed: seed).SelectMany(b => b.Y.data<long>().ToArray()).ToList();

        data.BatchCount(4).Should().Be(3);
        data.Batches(4).Select(b => b.X.shape[0]).Should().Equal(4L, 4L, 2L);
        Order(1).Should().BeEquivalentTo(Enumerable.Range(0, 10).Select(i => (long)i));
        Order(1).Should().Equal(Order(1));
        Order(1).Should().NotEqual(Order(2));
        data.Batches(4, dropLast: true).Should().HaveCount(2);
    }

    [Fact]
    public void A_batch_is_freed_when_the_iteration_moves_on_and_the_dataset_is_untouched()
    {
        using var data = FashionMnistDataset.FromTensors(zeros(6, 1, 2, 2), zeros(6, dtype: ScalarType.Int64), 2);
        Tensor? first = null;
        foreach (var (x, _) in data.Batches(3))
        {
            if (first is null) first = x;
            else first.IsInvalid.Should().BeTrue();
        }
        data.Images.IsInvalid.Should().BeFalse();
        data.Images.shape.Should().Equal(6L, 1L, 2L, 2L);
    }
}
