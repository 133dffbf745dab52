using System.Text;
using System.Text.Json;
using Lily.Serialization;
using TorchSharp;
using static Lily.Tests.Serialization.SafeTensorsTestFiles;

namespace Lily.Tests.Serialization;

/// <summary>Round trips, compatibility with hand-built files, header layout and metadata.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("lily-st-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathFor(string name) => Path.Combine(_directory, name);

    /// <summary>A tensor with arbitrary bit patterns (NaN payloads, subnormals, negative zero...) for every element.</summary>
    private static torch.Tensor RandomBits(torch.ScalarType scalarType, long[] shape, int seed)
    {
        var dtype = scalarType.ToSafeTensorsDType();
        var count = shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[count * dtype.ElementSize()];
        new Random(seed).NextBytes(bytes);
        if (dtype == SafeTensorsDType.Bool)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] &= 1;
            }
        }

        return new SafeTensorEntry("random", dtype, shape, bytes).ToTensor();
    }

    private static byte[] BytesOf(torch.Tensor tensor) => tensor.contiguous().bytes.ToArray();

    public static TheoryData<torch.ScalarType> RoundTripTypes => new()
    {
        torch.ScalarType.Float32,
        torch.ScalarType.Float16,
        torch.ScalarType.BFloat16,
        torch.ScalarType.Float64,
        torch.ScalarType.Int64,
        torch.ScalarType.Int32,
        torch.ScalarType.Int16,
        torch.ScalarType.Int8,
        torch.ScalarType.Byte,
        torch.ScalarType.Bool,
    };

    [Theory]
    [MemberData(nameof(RoundTripTypes))]
    public void Tensors_round_trip_bit_for_bit(torch.ScalarType scalarType)
    {
        var path = PathFor("model.safetensors");
        using var matrix = RandomBits(scalarType, [3, 5], seed: 1);
        using var cube = RandomBits(scalarType, [2, 1, 4], seed: 2);
        using var scalar = RandomBits(scalarType, [], seed: 3);
        using var empty = RandomBits(scalarType, [0, 7], seed: 4);

        SafeTensorsWriter.Save(path, new Dictionary<string, torch.Tensor>
        {
            ["matrix"] = matrix,
            ["cube"] = cube,
            ["scalar"] = scalar,
            ["empty"] = empty,
        });
        var loaded = SafeTensorsReader.ReadTensors(path);

        try
        {
            loaded.Keys.Should().BeEquivalentTo("matrix", "cube", "scalar", "empty");
            foreach (var (name, original) in new[] { ("matrix", matrix), ("cube", cube), ("scalar", scalar), ("empty", empty) })
            {
                var copy = loaded[name];
                copy.dtype.Should().Be(scalarType, name);
                copy.shape.Should().Equal(original.shape, name);
                copy.device_type.Should().Be(DeviceType.CPU);
                BytesOf(copy).Should().Equal(BytesOf(original), name);
            }

            loaded["scalar"].shape.Should().BeEmpty();
            loaded["empty"].numel().Should().Be(0);
        }
        finally
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(torch.ScalarType.Float32)]
    [InlineData(torch.ScalarType.Float16)]
    [InlineData(torch.ScalarType.BFloat16)]
    [InlineData(torch.ScalarType.Float64)]
    public void Float_values_survive_a_round_trip(torch.ScalarType scalarType)
    {
        var path = PathFor("values.safetensors");
        using var original = torch.randn(4, 6).to_type(scalarType);

        SafeTensorsWriter.Save(path, Pairs(("w", original)));
        using var copy = SafeTensorsReader.ReadFile(path).ToTensor("w");

        copy.dtype.Should().Be(scalarType);
        BytesOf(copy).Should().Equal(BytesOf(original));
        using var asDouble = copy.to_type(torch.ScalarType.Float64);
        using var originalAsDouble = original.to_type(torch.ScalarType.Float64);
        asDouble.data<double>().ToArray().Should().Equal(originalAsDouble.data<double>().ToArray());
    }

    [Fact]
    public void Int64_extremes_round_trip()
    {
        var path = PathFor("ints.safetensors");
        long[] values = [long.MinValue, -1, 0, 1, long.MaxValue, 1L << 53, (1L << 53) + 1];
        using var original = torch.tensor(values);

        SafeTensorsWriter.Save(path, Pairs(("ids", original)));
        using var copy = SafeTensorsReader.ReadFile(path).ToTensor("ids");

        copy.dtype.Should().Be(torch.ScalarType.Int64);
        copy.data<long>().ToArray().Should().Equal(values);
    }

    [Fact]
    public void Scalar_and_zero_size_tensors_are_described_exactly_in_the_header()
    {
        var path = PathFor("shapes.safetensors");
        using var scalar = torch.tensor(3.25f);
        using var empty = torch.zeros([0, 3], dtype: torch.ScalarType.Float16);

        SafeTensorsWriter.Save(path, Pairs(("scalar", scalar), ("empty", empty)));
        using var header = ReadHeaderJson(File.ReadAllBytes(path));
        var reader = SafeTensorsReader.ReadFile(path);
        using var scalarCopy = reader.ToTensor("scalar");

        header.RootElement.GetProperty("scalar").GetProperty("shape").GetArrayLength().Should().Be(0);
        header.RootElement.GetProperty("scalar").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(0, 4);
        header.RootElement.GetProperty("empty").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(0, 3);
        header.RootElement.GetProperty("empty").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(4, 4);
        reader["scalar"].Shape.Should().BeEmpty();
        reader["scalar"].ElementCount.Should().Be(1);
        reader["empty"].ByteLength.Should().Be(0);
        scalarCopy.item<float>().Should().Be(3.25f);
    }

    [Fact]
    public void Non_contiguous_and_grad_tracking_tensors_are_saved_by_value()
    {
        var path = PathFor("views.safetensors");
        using var baseTensor = torch.arange(12, dtype: torch.ScalarType.Float32).reshape(3, 4);
        using var transposed = baseTensor.t();
        using var sliced = baseTensor[.., 1..3];
        using var trained = torch.ones([2, 2], requires_grad: true);
        transposed.is_contiguous().Should().BeFalse("the test needs a strided view");

        SafeTensorsWriter.Save(path, Pairs(("t", transposed), ("s", sliced), ("g", trained)));
        var tensors = SafeTensorsReader.ReadTensors(path);

        try
        {
            tensors["t"].shape.Should().Equal(4, 3);
            tensors["t"].data<float>().ToArray().Should().Equal(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
            tensors["s"].data<float>().ToArray().Should().Equal(1, 2, 5, 6, 9, 10);
            tensors["g"].requires_grad.Should().BeFalse();
            tensors["g"].data<float>().ToArray().Should().Equal(1, 1, 1, 1);
            baseTensor.data<float>().ToArray().Should().Equal(Enumerable.Range(0, 12).Select(i => (float)i), "the source is left untouched");
            trained.requires_grad.Should().BeTrue();
        }
        finally
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }
        }
    }

    [Fact]
    public void Hand_built_file_reads_to_the_values_written_into_it()
    {
        // Built byte by byte from the format description, independently of SafeTensorsWriter. The header lists
        // tensors out of offset order and is not padded, which other writers may do.
        byte[] weight =
        [
            0x00, 0x00, 0xC0, 0x3F, // 1.5f
            0x00, 0x00, 0x00, 0xC0, // -2f
            0x00, 0x00, 0x80, 0x3E, // 0.25f
            0x00, 0x00, 0x80, 0x44, // 1024f
        ];
        byte[] bias = [0x80, 0x3F, 0x00, 0xBF, 0x40, 0x40]; // bf16 1.0, -0.5, 3.0
        byte[] step = [0x2A, 0, 0, 0, 0, 0, 0, 0x80]; // i64 -9223372036854775766
        const string json =
            "{\"bias\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]}," +
            "\"__metadata__\":{\"format\":\"pt\",\"note\":\"hand made\"}," +
            "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}," +
            "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}}";
        var bytes = FileBytes(json, [.. weight, .. step, .. bias], pad: false);
        (Encoding.UTF8.GetByteCount(json) % 8).Should().NotBe(0, "the test is about an unpadded header");

        var reader = SafeTensorsReader.Read(bytes, "hand.safetensors");
        using var weightTensor = reader.ToTensor("weight");
        using var biasTensor = reader.ToTensor("bias");
        using var stepTensor = reader.ToTensor("step");
        using var biasAsFloat = biasTensor.to_type(torch.ScalarType.Float32);

        reader.Names.Should().Equal("bias", "weight", "step");
        reader.Metadata.Should().BeEquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hand made" });
        weightTensor.dtype.Should().Be(torch.ScalarType.Float32);
        weightTensor.shape.Should().Equal(2, 2);
        weightTensor.data<float>().ToArray().Should().Equal(1.5f, -2f, 0.25f, 1024f);
        weightTensor[1, 0].item<float>().Should().Be(0.25f, "data is row-major");
        biasTensor.dtype.Should().Be(torch.ScalarType.BFloat16);
        biasAsFloat.data<float>().ToArray().Should().Equal(1f, -0.5f, 3f);
        stepTensor.shape.Should().BeEmpty();
        stepTensor.item<long>().Should().Be(long.MinValue + 42);
        reader["bias"].Data.ToArray().Should().Equal(bias);
    }

    [Fact]
    public void Writer_output_matches_a_hand_built_file_byte_for_byte()
    {
        var expected = FileBytes(
            "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40]); // 1f, 2f
        using var w = torch.tensor(new[] { 1f, 2f });
        using var stream = new MemoryStream();

        SafeTensorsWriter.Write(stream, Pairs(("w", w)));

        stream.ToArray().Should().Equal(expected);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8(string name)
    {
        using var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, [new SafeTensorEntry(name, SafeTensorsDType.F64, [1], new byte[8])]);
        var bytes = stream.ToArray();

        var headerLength = (long)BitConverter.ToUInt64(bytes, 0);
        var header = bytes.AsSpan(8, (int)headerLength);
        var jsonEnd = header.LastIndexOf((byte)'}') + 1;

        headerLength.Should().Be(bytes.Length - 8 - 8);
        (headerLength % 8).Should().Be(0);
        (headerLength - jsonEnd).Should().BeLessThan(8);
        header[jsonEnd..].ToArray().Should().Equal(Enumerable.Repeat((byte)' ', (int)(headerLength - jsonEnd)), "padding is spaces");
        header[0].Should().Be((byte)'{');
    }

    [Fact]
    public void Tensors_are_ordered_like_the_reference_implementation_and_aligned()
    {
        var entries = new[]
        {
            new SafeTensorEntry("b", SafeTensorsDType.F32, [1], new byte[4]),
            new SafeTensorEntry("z", SafeTensorsDType.F64, [1], new byte[8]),
            new SafeTensorEntry("a", SafeTensorsDType.F32, [3], new byte[12]),
            new SafeTensorEntry("c", SafeTensorsDType.I8, [3], new byte[3]),
            new SafeTensorEntry("d", SafeTensorsDType.BF16, [1], new byte[2]),
            new SafeTensorEntry("e", SafeTensorsDType.I64, [1], new byte[8]),
            new SafeTensorEntry("B", SafeTensorsDType.F32, [1], new byte[4]),
        };
        using var stream = new MemoryStream();

        SafeTensorsWriter.Write(stream, entries);
        stream.Position = 0;
        var reader = SafeTensorsReader.Read(stream);
        using var header = ReadHeaderJson(stream.ToArray());

        // Descending alignment in the reference's dtype order (I64 sorts above F64 there), then by name bytes.
        reader.Names.Should().Equal("e", "z", "B", "a", "b", "d", "c");
        var offsets = header.RootElement.EnumerateObject()
            .Where(p => p.Name != "__metadata__")
            .Select(p => (Name: p.Name, Begin: p.Value.GetProperty("data_offsets")[0].GetInt64(), DType: p.Value.GetProperty("dtype").GetString()!))
            .ToList();
        offsets.Select(o => o.Begin).Should().Equal(0, 8, 16, 20, 32, 36, 38);
        offsets.Should().OnlyContain(o => o.Begin % SafeTensorsDTypeExtensions.ParseHeaderString(o.DType).ElementSize() == 0);
    }

    [Fact]
    public void Metadata_round_trips_with_format_pt_added()
    {
        var path = PathFor("meta.safetensors");
        var metadata = new Dictionary<string, string>
        {
            ["base_model"] = "tiny-llama",
            ["ключ"] = "値 ✓ \"quoted\"\nnext line \\ backslash",
            ["empty"] = "",
        };

        SafeTensorsWriter.Save(path, [new SafeTensorEntry("w", SafeTensorsDType.U8, [2], new byte[] { 7, 9 })], metadata);
        var reader = SafeTensorsReader.ReadFile(path);

        reader.Metadata.Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["base_model"] = "tiny-llama",
            ["ключ"] = "値 ✓ \"quoted\"\nnext line \\ backslash",
            ["empty"] = "",
        });
        reader.SourceName.Should().Be(path);
        reader["w"].Data.ToArray().Should().Equal(7, 9);
    }

    [Fact]
    public void Caller_supplied_format_wins()
    {
        using var stream = new MemoryStream();

        SafeTensorsWriter.Write(stream, Array.Empty<SafeTensorEntry>(), new Dictionary<string, string> { ["format"] = "np" });
        stream.Position = 0;

        SafeTensorsReader.Read(stream).Metadata.Should().Equal(new Dictionary<string, string> { ["format"] = "np" });
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"__metadata__\":null}")]
    public void File_without_metadata_has_empty_metadata(string json)
    {
        var reader = SafeTensorsReader.Read(FileBytes(json, []));

        reader.Metadata.Should().BeEmpty();
        reader.Entries.Should().BeEmpty();
        reader.SourceName.Should().Be("<memory>");
    }

    [Fact]
    public void Non_ascii_tensor_names_round_trip()
    {
        var path = PathFor("names.safetensors");
        string[] names = ["模型.权重", "emoji😀.weight", "quote\"and\\slash", "tab\tname", ""];

        SafeTensorsWriter.Save(path, names.Select((n, i) => new SafeTensorEntry(n, SafeTensorsDType.U8, [1], new[] { (byte)i })));
        var reader = SafeTensorsReader.ReadFile(path);

        reader.Names.Should().BeEquivalentTo(names);
        names.Select(n => reader[n].Data.Span[0]).Should().Equal(0, 1, 2, 3, 4);
    }

    [Fact]
    public void Dtypes_torch_cannot_hold_are_kept_as_raw_entries()
    {
        var path = PathFor("raw.safetensors");
        var u16 = Counting(6);
        var f8 = Counting(3);

        SafeTensorsWriter.Save(path, [new SafeTensorEntry("u", SafeTensorsDType.U16, [3], u16), new SafeTensorEntry("f8", SafeTensorsDType.F8E4M3, [3], f8)]);
        var reader = SafeTensorsReader.ReadFile(path);

        reader["u"].DType.Should().Be(SafeTensorsDType.U16);
        reader["u"].Data.ToArray().Should().Equal(u16);
        reader["f8"].Data.ToArray().Should().Equal(f8);
        var act = () => SafeTensorsReader.ToTensor(reader["u"]);
        act.Should().Throw<NotSupportedException>().WithMessage("Tensor 'u' has dtype U16, which TorchSharp has no scalar type for*");
        var all = () => reader.ReadTensors();
        all.Should().Throw<NotSupportedException>();
    }

    [Fact]
    public void Reading_from_a_stream_starts_at_its_position_and_works_without_seeking()
    {
        using var w = torch.tensor(new[] { 5f, 6f, 7f });
        using var file = new MemoryStream();
        SafeTensorsWriter.Write(file, Pairs(("w", w)));
        byte[] prefixed = [1, 2, 3, .. file.ToArray()];

        using var seekable = new MemoryStream(prefixed) { Position = 3 };
        using var fromSeekable = SafeTensorsReader.Read(seekable, "seekable").ToTensor("w");
        using var pipe = new NonSeekableStream(file.ToArray());
        using var fromPipe = SafeTensorsReader.Read(pipe, "pipe").ToTensor("w");

        fromSeekable.data<float>().ToArray().Should().Equal(5f, 6f, 7f);
        fromPipe.data<float>().ToArray().Should().Equal(5f, 6f, 7f);
    }

    [Fact]
    public void Reader_lookup_by_name()
    {
        var reader = SafeTensorsReader.Read(FileBytes("{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", [1, 0, 0, 0]), "x.safetensors");

        reader.TryGetEntry("w", out var entry).Should().BeTrue();
        entry!.ToString().Should().Be("w: I32 [1]");
        reader.TryGetEntry("v", out _).Should().BeFalse();
        var missing = () => reader["v"];
        missing.Should().Throw<KeyNotFoundException>().WithMessage("x.safetensors: there is no tensor 'v'.");
    }

    [Fact]
    public void Writer_rejects_duplicate_and_reserved_names_and_unsupported_dtypes()
    {
        using var a = torch.ones(2);
        using var complex = torch.zeros([2], dtype: torch.ScalarType.ComplexFloat32);
        using var stream = new MemoryStream();

        var duplicate = () => SafeTensorsWriter.Write(stream, Pairs(("a", a), ("a", a)));
        var reserved = () => SafeTensorsWriter.Write(stream, Pairs(("__metadata__", a)));
        var unsupported = () => SafeTensorsWriter.Write(stream, Pairs(("c", complex)));
        var nullTensor = () => SafeTensorsWriter.Write(stream, Pairs(("n", null!)));

        duplicate.Should().Throw<ArgumentException>().WithMessage("Tensor name 'a' appears more than once.*");
        reserved.Should().Throw<ArgumentException>().WithMessage("'__metadata__' is reserved*");
        unsupported.Should().Throw<NotSupportedException>().WithMessage("Tensor 'c' has TorchSharp dtype ComplexFloat32, which safetensors cannot store.");
        nullTensor.Should().Throw<ArgumentException>().WithMessage("Tensor 'n' is null.*");
        stream.Length.Should().Be(0, "validation happens before anything is written");
    }

    [Fact]
    public void Entry_from_tensor_copies_the_bytes()
    {
        using var tensor = torch.tensor(new short[] { 1, -2, 300 });

        var entry = SafeTensorEntry.FromTensor("s", tensor);
        using var replacement = torch.tensor((short)99);
        tensor[0] = replacement;

        entry.DType.Should().Be(SafeTensorsDType.I16);
        entry.GetShape().Should().Equal(3);
        entry.Data.ToArray().Should().Equal(0x01, 0x00, 0xFE, 0xFF, 0x2C, 0x01);
    }

    [Fact]
    public void Entry_constructor_checks_its_data()
    {
        var wrongLength = () => new SafeTensorEntry("w", SafeTensorsDType.F32, [3, 4], new byte[40]);
        var negative = () => new SafeTensorEntry("w", SafeTensorsDType.F32, [-1], Array.Empty<byte>());
        var overflow = () => new SafeTensorEntry("w", SafeTensorsDType.F64, [1L << 62], Array.Empty<byte>());
        var badBool = () => new SafeTensorEntry("w", SafeTensorsDType.Bool, [2], new byte[] { 0, 5 });
        var reserved = () => new SafeTensorEntry("__metadata__", SafeTensorsDType.U8, [0], Array.Empty<byte>());
        var undefined = () => new SafeTensorEntry("w", (SafeTensorsDType)99, [0], Array.Empty<byte>());

        wrongLength.Should().Throw<ArgumentException>().WithMessage("Tensor 'w': dtype F32 and shape [3, 4] need 48 bytes, but 40 were given.*");
        negative.Should().Throw<ArgumentException>().WithMessage("Tensor 'w' has negative dimension -1 in shape [-1].*");
        overflow.Should().Throw<ArgumentException>().WithMessage("*overflows a 64-bit integer*");
        badBool.Should().Throw<ArgumentException>().WithMessage("Tensor 'w': BOOL element 1 is 5, but only 0 and 1 are valid.*");
        reserved.Should().Throw<ArgumentException>();
        undefined.Should().Throw<ArgumentOutOfRangeException>();
    }

    internal static List<KeyValuePair<string, torch.Tensor>> Pairs(params (string Name, torch.Tensor Tensor)[] items) =>
        items.Select(i => new KeyValuePair<string, torch.Tensor>(i.Name, i.Tensor)).ToList();

    private static JsonDocument ReadHeaderJson(byte[] file)
    {
        var length = (int)BitConverter.ToUInt64(file, 0);
        return JsonDocument.Parse(file.AsMemory(8, length));
    }
}
