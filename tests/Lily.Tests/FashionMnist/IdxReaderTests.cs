using System.Buffers.Binary;
using System.IO.Compression;
using Lily.FashionMnist;
using static TorchSharp.torch;

namespace Lily.Tests.FashionMnist;

public sealed class IdxReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lily-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Two 2x3 images, pixel values chosen to cover 0, 255 and the middle.
    private static readonly byte[] Pixels = [0, 1, 2, 3, 4, 5, 255, 128, 64, 32, 16, 8];

    internal static byte[] IdxBytes(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    internal static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(bytes);
        return output.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reads_labels_plain_and_gzip(bool gzip)
    {
        var raw = IdxBytes(IdxReader.LabelMagic, [4], [9, 0, 3, 7]);
        var path = Write("labels-idx1-ubyte", gzip ? Gzip(raw) : raw);

        IdxReader.ReadLabels(path).Should().Equal(9, 0, 3, 7);

        using var labels = IdxReader.ReadLabelsTensor(path);
        labels.dtype.Should().Be(ScalarType.Int64);
        labels.data<long>().ToArray().Should().Equal(9L, 0L, 3L, 7L);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reads_images_plain_and_gzip(bool gzip)
    {
        var raw = IdxBytes(IdxReader.ImageMagic, [2, 2, 3], Pixels);
        var path = Write("images-idx3-ubyte.gz", gzip ? Gzip(raw) : raw);   // the name does not decide

        var images = IdxReader.ReadImages(path);
        images.Count.Should().Be(2);
        images.Rows.Should().Be(2);
        images.Columns.Should().Be(3);
        images.Pixels.Should().Equal(Pixels);

        using var x = IdxReader.ReadImagesTensor(path);
        x.shape.Should().Equal(2L, 1L, 2L, 3L);
        x.dtype.Should().Be(ScalarType.Float32);
        var expected = Pixels.Select(p => (p / 255f - IdxReader.FashionMnistMean) / IdxReader.FashionMnistStd).ToArray();
        x.data<float>().ToArray().Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-6f);
    }

    [Fact]
    public void Image_tensor_can_skip_normalization_and_select_images()
    {
        var images = new IdxImages(Pixels, 2, 2, 3);
        using var x = IdxReader.ToImageTensor(images, [1], mean: 0, std: 1);
        x.shape.Should().Equal(1L, 1L, 2L, 3L);
        x.data<float>().ToArray().Should().Equal(Pixels[6..].Select(p => p / 255f));
    }

    [Fact]
    public void Reads_from_a_stream_that_cannot_seek()
    {
        var raw = Gzip(IdxBytes(IdxReader.LabelMagic, [2], [1, 2]));
        using var stream = new ForwardOnlyStream(raw);
        IdxReader.ReadLabels(stream, "piped").Should().Equal(1, 2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rejects_a_wrong_magic_number_naming_the_file(bool gzip)
    {
        var raw = IdxBytes(IdxReader.ImageMagic, [1, 1, 1], [0]);
        var path = Write("t10k-labels-idx1-ubyte", gzip ? Gzip(raw) : raw);

        var act = () => IdxReader.ReadLabels(path);

        act.Should().Throw<InvalidDataException>()
            .WithMessage("*t10k-labels-idx1-ubyte*magic*0x00000803*image*0x00000801*");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rejects_truncated_pixel_data(bool gzip)
    {
        var raw = IdxBytes(IdxReader.ImageMagic, [2, 2, 3], Pixels[..7]);
        var path = Write("train-images-idx3-ubyte", gzip ? Gzip(raw) : raw);

        var act = () => IdxReader.ReadImages(path);

        act.Should().Throw<InvalidDataException>()
            .WithMessage("*train-images-idx3-ubyte*truncated*12 bytes*only 7*");
    }

    [Fact]
    public void Rejects_a_truncated_header()
    {
        var raw = IdxBytes(IdxReader.ImageMagic, [2, 2, 3], [])[..9];
        var path = Write("short", raw);

        var act = () => IdxReader.ReadImages(path);

        act.Should().Throw<InvalidDataException>().WithMessage("*'short'*truncated*header*");
    }

    [Fact]
    public void Rejects_data_beyond_what_the_header_promises()
    {
        var path = Write("long", IdxBytes(IdxReader.LabelMagic, [2], [1, 2, 3]));

        var act = () => IdxReader.ReadLabels(path);

        act.Should().Throw<InvalidDataException>().WithMessage("*'long'*more data than its header*");
    }

    [Fact]
    public void Rejects_corrupt_gzip_naming_the_file()
    {
        var bytes = Gzip(IdxBytes(IdxReader.LabelMagic, [64], new byte[64]));
        for (int i = 10; i < bytes.Length - 8; i++) bytes[i] ^= 0x5a;
        var path = Write("broken.gz", bytes);

        var act = () => IdxReader.ReadLabels(path);

        act.Should().Throw<InvalidDataException>().WithMessage("*broken.gz*");
    }

    [Fact]
    public void A_missing_file_says_which()
    {
        var act = () => IdxReader.ReadLabels(Path.Combine(_dir, "nope"));
        act.Should().Throw<FileNotFoundException>().WithMessage("*nope*");
    }

    private sealed class ForwardOnlyStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
