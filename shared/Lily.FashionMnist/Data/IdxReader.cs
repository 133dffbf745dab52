using System.Buffers.Binary;
using System.IO.Compression;
using static TorchSharp.torch;

namespace Lily.FashionMnist;

/// <summary>
/// Reads the IDX files in which MNIST and Fashion-MNIST are distributed: label files
/// (magic <c>0x00000801</c>, one dimension) and image files (magic <c>0x00000803</c>, three
/// dimensions), all sizes big-endian 32-bit, followed by unsigned bytes. Both gzip-compressed
/// and plain files are accepted; gzip is recognised by its content, not by the file name.
/// </summary>
/// <remarks>
/// Every problem (wrong magic, impossible sizes, too few or too many bytes, corrupt gzip) is
/// reported as an <see cref="InvalidDataException"/> whose message starts with the file name,
/// so a user with a damaged download knows which file to replace.
/// </remarks>
public static class IdxReader
{
    /// <summary>Magic number of an IDX file of unsigned bytes with one dimension (labels).</summary>
    public const int LabelMagic = 0x00000801;

    /// <summary>Magic number of an IDX file of unsigned bytes with three dimensions (images).</summary>
    public const int ImageMagic = 0x00000803;

    /// <summary>Mean pixel value of the Fashion-MNIST training images, after scaling to [0, 1].</summary>
    public const float FashionMnistMean = 0.2860f;

    /// <summary>Standard deviation of the Fashion-MNIST training pixels, after scaling to [0, 1].</summary>
    public const float FashionMnistStd = 0.3530f;

    /// <summary>Reads the labels of an IDX label file (gzip or plain).</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>One byte per item.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX label file.</exception>
    public static byte[] ReadLabels(string path)
    {
        using var stream = OpenFile(path);
        return ReadLabels(stream, Path.GetFileName(path));
    }

    /// <summary>Reads the labels of an IDX label file from a stream (gzip or plain).</summary>
    /// <param name="stream">The file contents; read to its end.</param>
    /// <param name="name">The name used in error messages, usually the file name.</param>
    /// <returns>One byte per item.</returns>
    /// <exception cref="InvalidDataException">The data is not a well-formed IDX label file.</exception>
    public static byte[] ReadLabels(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        return Read(stream, name, input =>
        {
            int[] dims = ReadHeader(input, name, LabelMagic, "label", 1);
            return ReadBody(input, name, dims[0], $"{dims[0]} labels");
        });
    }

    /// <summary>Reads the images of an IDX image file (gzip or plain).</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The pixels and the sizes from the header.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX image file.</exception>
    public static IdxImages ReadImages(string path)
    {
        using var stream = OpenFile(path);
        return ReadImages(stream, Path.GetFileName(path));
    }

    /// <summary>Reads the images of an IDX image file from a stream (gzip or plain).</summary>
    /// <param name="stream">The file contents; read to its end.</param>
    /// <param name="name">The name used in error messages, usually the file name.</param>
    /// <returns>The pixels and the sizes from the header.</returns>
    /// <exception cref="InvalidDataException">The data is not a well-formed IDX image file.</exception>
    public static IdxImages ReadImages(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        return Read(stream, name, input =>
        {
            int[] dims = ReadHeader(input, name, ImageMagic, "image", 3);
            int count = dims[0], rows = dims[1], columns = dims[2];
            if (rows == 0 || columns == 0)
            {
                throw new InvalidDataException($"'{name}': images of {rows}x{columns} pixels are empty; rows and columns must be at least 1.");
            }
            // Checked in 64 bits: a corrupt header must give a message, not an overflow or a huge allocation.
            long total = (long)count * rows * columns;
            if (total > Array.MaxLength)
            {
                throw new InvalidDataException($"'{name}': header promises {count} images of {rows}x{columns} pixels ({total} bytes), more than one array can hold; the header is probably corrupt.");
            }
            byte[] pixels = ReadBody(input, name, (int)total, $"{count} images of {rows}x{columns} pixels");
            return new IdxImages(pixels, count, rows, columns);
        });
    }

    /// <summary>Reads an IDX label file straight into a tensor.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>An <c>int64</c> tensor of shape <c>[N]</c>, as cross-entropy expects.</returns>
    public static Tensor ReadLabelsTensor(string path) => ToLabelTensor(ReadLabels(path));

    /// <summary>Reads an IDX image file straight into a normalized float tensor.</summary>
    /// <param name="path">The file to read.</param>
    /// <param name="mean">Subtracted after scaling pixels to [0, 1].</param>
    /// <param name="std">Divides after subtracting <paramref name="mean"/>.</param>
    /// <returns>A <c>float32</c> tensor of shape <c>[N, 1, rows, columns]</c>.</returns>
    public static Tensor ReadImagesTensor(string path, float mean = FashionMnistMean, float std = FashionMnistStd) =>
        ToImageTensor(ReadImages(path), null, mean, std);

    /// <summary>Turns labels into an <c>int64</c> tensor of shape <c>[N]</c>.</summary>
    /// <param name="labels">The labels, one byte each.</param>
    /// <param name="indices">Which items to take, in this order; null for all.</param>
    /// <returns>The new tensor, owned by the caller (or the current dispose scope).</returns>
    public static Tensor ToLabelTensor(byte[] labels, IReadOnlyList<int>? indices = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        int n = indices?.Count ?? labels.Length;
        var values = new long[n];
        for (int i = 0; i < n; i++) values[i] = labels[indices is null ? i : indices[i]];
        return tensor(values, [n]);
    }

    /// <summary>
    /// Turns images into a <c>float32</c> tensor of shape <c>[N, 1, rows, columns]</c>: each pixel
    /// becomes <c>(p / 255 - mean) / std</c>.
    /// </summary>
    /// <param name="images">The images.</param>
    /// <param name="indices">Which images to take, in this order; null for all.</param>
    /// <param name="mean">Subtracted after scaling pixels to [0, 1]; 0 to keep the [0, 1] range.</param>
    /// <param name="std">Divides after subtracting <paramref name="mean"/>; 1 to keep the [0, 1] range.</param>
    /// <returns>The new tensor, owned by the caller (or the current dispose scope).</returns>
    public static Tensor ToImageTensor(IdxImages images, IReadOnlyList<int>? indices = null, float mean = FashionMnistMean, float std = FashionMnistStd)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (!(std > 0)) throw new ArgumentOutOfRangeException(nameof(std), std, "The standard deviation must be positive.");

        // Only 256 distinct inputs: a lookup table keeps the conversion of 47M pixels cheap and exact.
        var table = new float[256];
        for (int p = 0; p < 256; p++) table[p] = (p / 255f - mean) / std;

        int n = indices?.Count ?? images.Count;
        int size = images.PixelsPerImage;
        var values = new float[(long)n * size];
        for (int i = 0; i < n; i++)
        {
            int source = indices is null ? i : indices[i];
            if ((uint)source >= (uint)images.Count) throw new ArgumentOutOfRangeException(nameof(indices), source, $"Image index out of range 0..{images.Count - 1}.");
            var from = images.Pixels.AsSpan(source * size, size);
            var to = values.AsSpan(i * size, size);
            for (int j = 0; j < size; j++) to[j] = table[from[j]];
        }
        return tensor(values, [n, 1, images.Rows, images.Columns]);
    }

    private static FileStream OpenFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    // Runs `read` on the decompressed contents of `stream`. Gzip is recognised by its first two
    // bytes (1f 8b) rather than the file name, because people gunzip files and keep the name or
    // the other way round. A stream that cannot seek is copied so it can be peeked. The caller's
    // stream is left open; only the wrappers made here are disposed.
    private static T Read<T>(Stream stream, string name, Func<Stream, T> read)
    {
        Stream source = stream;
        Stream? input = null;
        try
        {
            if (!stream.CanSeek)
            {
                source = new MemoryStream();
                stream.CopyTo(source);
                source.Position = 0;
            }
            long start = source.Position;
            bool gzip = source.ReadByte() == 0x1f && source.ReadByte() == 0x8b;
            source.Position = start;
            input = gzip ? new GZipStream(source, CompressionMode.Decompress, leaveOpen: true) : source;
            return read(input);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith($"'{name}'", StringComparison.Ordinal))
        {
            // GZipStream reports corrupt compressed data without saying which file it was reading.
            throw new InvalidDataException($"'{name}': the gzip data is corrupt ({e.Message}).", e);
        }
        finally
        {
            if (input is not null && !ReferenceEquals(input, stream)) input.Dispose();
            if (!ReferenceEquals(source, stream)) source.Dispose();
        }
    }

    private static int[] ReadHeader(Stream input, string name, int expectedMagic, string kind, int dimensions)
    {
        int headerLength = 4 + 4 * dimensions;
        var header = new byte[headerLength];
        int got = input.ReadAtLeast(header, headerLength, throwOnEndOfStream: false);
        if (got < 4)
        {
            throw new InvalidDataException($"'{name}' is too short to be an IDX {kind} file: it has {got} bytes, not even the 4-byte magic number.");
        }

        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != expectedMagic)
        {
            string hint = magic switch
            {
                LabelMagic => " (that of a label file)",
                ImageMagic => " (that of an image file)",
                _ when header[0] == 0x1f && header[1] == 0x8b => " (the data is gzip inside gzip)",
                _ => "",
            };
            throw new InvalidDataException($"'{name}' is not an IDX {kind} file: magic number is 0x{magic:X8}{hint}, expected 0x{expectedMagic:X8}.");
        }
        if (got < headerLength)
        {
            throw new InvalidDataException($"'{name}' is truncated: it ends after {got} bytes, inside the {headerLength}-byte header.");
        }

        var dims = new int[dimensions];
        for (int i = 0; i < dimensions; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + 4 * i));
            if (dims[i] < 0)
            {
                throw new InvalidDataException($"'{name}': dimension {i} in the header is {dims[i]}, a negative size; the header is corrupt.");
            }
        }
        return dims;
    }

    private static byte[] ReadBody(Stream input, string name, int length, string promised)
    {
        var body = new byte[length];
        int got = input.ReadAtLeast(body, length, throwOnEndOfStream: false);
        if (got < length)
        {
            throw new InvalidDataException($"'{name}' is truncated: its header promises {promised} ({length} bytes of data), but only {got} bytes follow.");
        }
        // Extra bytes mean the header and the data disagree, e.g. two files concatenated.
        if (input.ReadByte() >= 0)
        {
            throw new InvalidDataException($"'{name}' has more data than its header promises ({promised}, {length} bytes); the file is corrupt or not what it seems.");
        }
        return body;
    }
}
