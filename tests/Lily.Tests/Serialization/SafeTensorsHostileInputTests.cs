using System.Text;
using Lily.Serialization;
using static Lily.Tests.Serialization.SafeTensorsTestFiles;

namespace Lily.Tests.Serialization;

/// <summary>
/// Malformed and hostile inputs: each must be refused with a <see cref="SafeTensorsFormatException"/> whose message
/// names the source, the tensor (when there is one) and the problem, and without allocating from unchecked lengths.
/// </summary>
public sealed class SafeTensorsHostileInputTests : IDisposable
{
    private const string Source = "adapter_model.safetensors";

    private readonly string _directory = Directory.CreateTempSubdirectory("lily-st-hostile-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static SafeTensorsFormatException Reject(byte[] bytes)
    {
        var act = () => SafeTensorsReader.Read(bytes, Source);
        var exception = act.Should().Throw<SafeTensorsFormatException>().Which;
        exception.Message.Should().StartWith(Source + ": ");
        exception.SourceName.Should().Be(Source);

        // The stream path validates separately from the span path; both must refuse the same input.
        var viaStream = () => SafeTensorsReader.Read(new MemoryStream(bytes), Source);
        viaStream.Should().Throw<SafeTensorsFormatException>().Which.Message.Should().Be(exception.Message);
        return exception;
    }

    /// <summary>
    /// Runs a read that must fail and reports how many bytes this thread allocated meanwhile. Measured around the bare
    /// call, because the assertion library's own first-use allocations would swamp the number.
    /// </summary>
    private static (SafeTensorsFormatException Exception, long Allocated) MeasureRejection(Func<SafeTensorsReader> read)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        SafeTensorsFormatException? caught = null;
        try
        {
            read();
        }
        catch (SafeTensorsFormatException exception)
        {
            caught = exception;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        caught.Should().NotBeNull("the read must be refused");
        return (caught!, allocated);
    }

    private static string F32(string name, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [Fact]
    public void Empty_input_is_rejected()
    {
        Reject([]).Message.Should().Contain("the file is 0 bytes long, too short for the 8-byte header length");
    }

    [Fact]
    public void Seven_byte_input_is_rejected()
    {
        Reject([1, 0, 0, 0, 0, 0, 0]).Message.Should().Contain("the file is 7 bytes long");
    }

    [Fact]
    public void Empty_file_on_disk_is_rejected_with_its_path()
    {
        var path = Path.Combine(_directory, "empty.safetensors");
        File.WriteAllBytes(path, []);

        var act = () => SafeTensorsReader.ReadFile(path);

        act.Should().Throw<SafeTensorsFormatException>()
            .Which.Message.Should().Be($"{path}: the file is 0 bytes long, too short for the 8-byte header length that starts every safetensors file");
    }

    [Fact]
    public void Format_exception_is_an_IOException()
    {
        var act = () => SafeTensorsReader.Read([], Source);

        act.Should().Throw<IOException>();
    }

    [Fact]
    public void Header_length_beyond_the_file_is_rejected()
    {
        byte[] bytes = [.. UInt64LittleEndian(1000), .. Encoding.UTF8.GetBytes("{}          ")];

        Reject(bytes).Message.Should().Contain("declares a header of 1000 bytes, but only 12 bytes follow it");
    }

    [Theory]
    [InlineData(1UL << 62)]
    [InlineData(ulong.MaxValue)]
    [InlineData(100_000_001UL)]
    public void Absurd_header_length_is_rejected_without_allocating(ulong declared)
    {
        byte[] bytes = [.. UInt64LittleEndian(declared), .. Encoding.UTF8.GetBytes("{}      ")];

        var (exception, allocated) = MeasureRejection(() => SafeTensorsReader.Read(bytes, Source));

        exception.Message.Should().Contain($"declares a header of {declared} bytes, over the 100000000-byte limit");
        allocated.Should().BeLessThan(1 << 20, "nothing may be sized from the unchecked header length");
    }

    [Fact]
    public void Header_length_under_the_cap_but_beyond_a_file_on_disk_is_rejected_without_allocating()
    {
        // 90 MB would be allocated without complaint if the reader trusted the prefix; the file is 16 bytes.
        var path = Path.Combine(_directory, "lying.safetensors");
        File.WriteAllBytes(path, [.. UInt64LittleEndian(90_000_000), .. Encoding.UTF8.GetBytes("{}      ")]);

        var (exception, allocated) = MeasureRejection(() => SafeTensorsReader.ReadFile(path));

        exception.Message.Should().Be($"{path}: the 8-byte prefix declares a header of 90000000 bytes, but only 8 bytes follow it (the file is truncated or not a safetensors file)");
        allocated.Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Huge_shape_with_little_data_is_rejected_without_allocating()
    {
        var bytes = FileBytes("{" + F32("w", "[1000000000,1000]", 0, 4_000_000_000_000) + "}", new byte[16]);

        var (exception, allocated) = MeasureRejection(() => SafeTensorsReader.Read(bytes, Source));

        exception.TensorName.Should().Be("w");
        exception.Message.Should().Contain("tensor 'w' has data_offsets [0, 4000000000000] beyond the end of the data section, which holds only 16 bytes");
        allocated.Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Truncated_data_is_rejected()
    {
        var bytes = FileBytes("{" + F32("w", "[2,2]", 0, 16) + "}", Counting(8));

        Reject(bytes).Message.Should().Be(
            $"{Source}: tensor 'w' has data_offsets [0, 16] beyond the end of the data section, which holds only 8 bytes (is the file truncated?)");
    }

    [Fact]
    public void Truncated_file_on_disk_is_rejected()
    {
        var path = Path.Combine(_directory, "cut.safetensors");
        var whole = FileBytes("{" + F32("a", "[2]", 0, 8) + "," + F32("b", "[4]", 8, 24) + "}", Counting(24));
        File.WriteAllBytes(path, whole[..^3]);

        var act = () => SafeTensorsReader.ReadFile(path);

        act.Should().Throw<SafeTensorsFormatException>()
            .Which.Message.Should().Be($"{path}: tensor 'b' has data_offsets [8, 24] beyond the end of the data section, which holds only 21 bytes (is the file truncated?)");
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}")]
    [InlineData("{\"w\":{/* comment */\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{'w':1}")]
    [InlineData("{} trailing")]
    public void Bad_json_is_rejected(string json)
    {
        Reject(FileBytes(json, new byte[4])).Message.Should().Contain("the header is not valid JSON");
    }

    [Theory]
    [InlineData("[1,2]", "'['")]
    [InlineData("\"text\"", "'\"'")]
    [InlineData("42", "'4'")]
    [InlineData(" {}", "byte 0x20")]
    public void Header_that_is_not_an_object_is_rejected(string json, string start)
    {
        Reject(FileBytes(json, [])).Message.Should().Be($"{Source}: the header is not a JSON object: it must start with '{{' but starts with {start}");
    }

    [Fact]
    public void Deeply_nested_header_is_rejected_without_deep_recursion()
    {
        var nested = new string('[', 10_000) + new string(']', 10_000);

        Reject(FileBytes("{" + F32("w", nested, 0, 4) + "}", new byte[4])).Message.Should().Contain("the header is not valid JSON");
    }

    [Fact]
    public void Zero_length_header_is_rejected()
    {
        Reject(UInt64LittleEndian(0)).Message.Should().Contain("the header is not a JSON object: it must start with '{' but starts with nothing");
    }

    [Fact]
    public void Header_that_is_not_utf8_is_rejected()
    {
        byte[] header = [.. Encoding.UTF8.GetBytes("{\"w"), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")];

        Reject(FileBytes(header, new byte[4])).Message.Should().Be($"{Source}: the header is not valid UTF-8");
    }

    [Theory]
    [InlineData("F17")]
    [InlineData("f32")]
    [InlineData("float32")]
    [InlineData("")]
    public void Unknown_dtype_is_rejected(string dtype)
    {
        var bytes = FileBytes($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":[1],\"data_offsets\":[0,4]}}}}", new byte[4]);

        var exception = Reject(bytes);

        exception.TensorName.Should().Be("w");
        exception.Message.Should().StartWith($"{Source}: tensor 'w' has unknown dtype '{dtype}' (known dtypes: BOOL, U8, I8");
    }

    [Fact]
    public void Dtype_that_is_not_a_string_is_rejected()
    {
        Reject(FileBytes("{\"w\":{\"dtype\":11,\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]))
            .Message.Should().Contain("tensor 'w' has a dtype that is a JSON number, not a string");
    }

    [Fact]
    public void Offsets_out_of_range_are_rejected()
    {
        var bytes = FileBytes("{" + F32("a", "[2]", 0, 8) + "," + F32("b", "[4]", 8, 24) + "}", new byte[16]);

        Reject(bytes).Message.Should().Contain("tensor 'b' has data_offsets [8, 24] beyond the end of the data section, which holds only 16 bytes");
    }

    [Fact]
    public void End_before_begin_is_rejected()
    {
        var bytes = FileBytes("{" + F32("w", "[4]", 16, 0) + "}", new byte[16]);

        Reject(bytes).Message.Should().Be($"{Source}: tensor 'w' has data_offsets [16, 0] whose end is before its begin");
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var bytes = FileBytes("{" + F32("a", "[4]", 0, 16) + "," + F32("b", "[4]", 8, 24) + "}", new byte[24]);

        var exception = Reject(bytes);

        exception.TensorName.Should().Be("b");
        exception.Message.Should().Be($"{Source}: tensor 'b' has data_offsets [8, 24] that overlap tensor 'a' at [0, 16]");
    }

    [Fact]
    public void Two_tensors_sharing_the_same_bytes_are_rejected()
    {
        var bytes = FileBytes("{" + F32("a", "[4]", 0, 16) + "," + F32("b", "[4]", 0, 16) + "}", new byte[16]);

        Reject(bytes).Message.Should().Contain("that overlap tensor");
    }

    [Fact]
    public void Byte_length_mismatch_is_rejected_with_a_precise_message()
    {
        var bytes = FileBytes("{" + F32("x.lora_A.weight", "[3,4]", 0, 40) + "}", new byte[40]);

        Reject(bytes).Message.Should().Be(
            "adapter_model.safetensors: tensor 'x.lora_A.weight' has data_offsets [0, 40] but dtype F32 and shape [3, 4] need 48 bytes");
    }

    [Theory]
    [InlineData("[-1,4]", "-1", 0)]
    [InlineData("[4,-3]", "-3", 1)]
    [InlineData("[2.5]", "2.5", 0)]
    [InlineData("[1e2]", "1e2", 0)]
    [InlineData("[\"4\"]", "\"4\"", 0)]
    [InlineData("[18446744073709551616]", "18446744073709551616", 0)]
    public void Invalid_shape_element_is_rejected(string shape, string element, int position)
    {
        var bytes = FileBytes("{" + F32("w", shape, 0, 16) + "}", new byte[16]);

        Reject(bytes).Message.Should().Be(
            $"{Source}: tensor 'w' has shape element {element} at position {position}, which is not a non-negative 64-bit integer");
    }

    [Theory]
    [InlineData("[4294967296,4294967296]")]
    [InlineData("[4611686018427387904]")] // 2^62 elements fit, 2^64 bytes do not
    [InlineData("[9223372036854775807,2]")]
    [InlineData("[9223372036854775807,2,0]")] // the zero comes after the overflow, which the reference rejects too
    public void Shape_whose_size_overflows_is_rejected(string shape)
    {
        var bytes = FileBytes("{" + F32("w", shape, 0, 16) + "}", new byte[16]);

        var exception = Reject(bytes);

        exception.TensorName.Should().Be("w");
        exception.Message.Should().Contain("whose size in F32 bytes overflows a 64-bit integer");
    }

    [Fact]
    public void Shape_that_is_not_an_array_is_rejected()
    {
        Reject(FileBytes("{" + F32("w", "4", 0, 16) + "}", new byte[16])).Message.Should().Contain("tensor 'w' has a shape that is a JSON number, not an array");
    }

    [Theory]
    [InlineData("[0]", 1)]
    [InlineData("[0,4,8]", 3)]
    [InlineData("[]", 0)]
    public void Data_offsets_with_wrong_arity_are_rejected(string offsets, int count)
    {
        var bytes = FileBytes($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}}}", new byte[4]);

        Reject(bytes).Message.Should().Contain($"tensor 'w' has data_offsets with {count} numbers instead of 2");
    }

    [Fact]
    public void Negative_offset_is_rejected()
    {
        Reject(FileBytes("{" + F32("w", "[1]", -4, 0) + "}", new byte[4]))
            .Message.Should().Contain("tensor 'w' has data_offsets element -4 at position 0, which is not a non-negative 64-bit integer");
    }

    [Theory]
    [InlineData("\"dtype\":\"F32\",\"shape\":[1]", "data_offsets")]
    [InlineData("\"dtype\":\"F32\",\"data_offsets\":[0,4]", "shape")]
    [InlineData("\"shape\":[1],\"data_offsets\":[0,4]", "dtype")]
    public void Missing_field_is_rejected(string fields, string missing)
    {
        Reject(FileBytes($"{{\"w\":{{{fields}}}}}", new byte[4])).Message.Should().Be($"{Source}: tensor 'w' has no '{missing}' field");
    }

    [Fact]
    public void Unknown_field_is_rejected()
    {
        var bytes = FileBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offset\":[0,4]}}", new byte[4]);

        Reject(bytes).Message.Should().Contain("tensor 'w' has unknown field 'data_offset'");
    }

    [Theory]
    [InlineData("5", "number")]
    [InlineData("[0,4]", "array")]
    [InlineData("null", "null")]
    [InlineData("\"F32\"", "string")]
    public void Tensor_entry_that_is_not_an_object_is_rejected(string value, string kind)
    {
        Reject(FileBytes($"{{\"w\":{value}}}", [])).Message.Should().Contain($"tensor 'w' is described by a JSON {kind}, not an object");
    }

    [Fact]
    public void Duplicate_tensor_key_is_rejected()
    {
        var bytes = FileBytes("{" + F32("w", "[1]", 0, 4) + "," + F32("w", "[1]", 4, 8) + "}", new byte[8]);

        var exception = Reject(bytes);

        exception.TensorName.Should().Be("w");
        exception.Message.Should().Be($"{Source}: tensor 'w' appears twice in the header");
    }

    [Fact]
    public void Duplicate_key_spelled_with_an_escape_is_rejected()
    {
        // "\u0077" is "w": a parser comparing raw text would miss this duplicate.
        var bytes = FileBytes("{" + F32("w", "[1]", 0, 4) + "," + F32("\\u0077", "[1]", 4, 8) + "}", new byte[8]);

        Reject(bytes).Message.Should().Contain("tensor 'w' appears twice in the header");
    }

    [Fact]
    public void Duplicate_field_in_a_tensor_entry_is_rejected()
    {
        var bytes = FileBytes("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);

        Reject(bytes).Message.Should().Contain("tensor 'w' has the field 'dtype' twice");
    }

    [Fact]
    public void Duplicate_metadata_object_is_rejected()
    {
        var bytes = FileBytes("{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{\"format\":\"np\"}}", []);

        Reject(bytes).Message.Should().Be($"{Source}: the header has the key '__metadata__' twice");
    }

    [Fact]
    public void Duplicate_metadata_key_is_rejected()
    {
        var bytes = FileBytes("{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}", []);

        Reject(bytes).Message.Should().Be($"{Source}: '__metadata__' has the key 'format' twice");
    }

    [Theory]
    [InlineData("[\"pt\"]", "array")]
    [InlineData("\"pt\"", "string")]
    [InlineData("7", "number")]
    public void Metadata_that_is_not_an_object_is_rejected(string value, string kind)
    {
        Reject(FileBytes($"{{\"__metadata__\":{value}}}", [])).Message.Should().Be($"{Source}: '__metadata__' is a JSON {kind}, not an object of strings");
    }

    [Theory]
    [InlineData("1", "number")]
    [InlineData("true", "boolean")]
    [InlineData("null", "null")]
    [InlineData("{\"a\":\"b\"}", "object")]
    public void Metadata_value_that_is_not_a_string_is_rejected(string value, string kind)
    {
        Reject(FileBytes($"{{\"__metadata__\":{{\"format\":\"pt\",\"epochs\":{value}}}}}", []))
            .Message.Should().Be($"{Source}: '__metadata__' key 'epochs' has a JSON {kind} value, not a string");
    }

    [Fact]
    public void Gap_between_tensors_is_rejected()
    {
        var bytes = FileBytes("{" + F32("a", "[2]", 0, 8) + "," + F32("b", "[2]", 16, 24) + "}", new byte[24]);

        Reject(bytes).Message.Should().Be(
            $"{Source}: tensor 'b' has data_offsets [16, 24], leaving bytes [8, 16) of the data section unused; tensors must be packed without gaps");
    }

    [Fact]
    public void Gap_at_the_start_is_rejected()
    {
        Reject(FileBytes("{" + F32("a", "[2]", 8, 16) + "}", new byte[16])).Message.Should().Contain("leaving bytes [0, 8) of the data section unused");
    }

    [Fact]
    public void Trailing_bytes_after_the_last_tensor_are_rejected()
    {
        var bytes = FileBytes("{" + F32("a", "[4]", 0, 16) + "}", new byte[20]);

        Reject(bytes).Message.Should().Be(
            $"{Source}: the data section is 20 bytes but the tensors cover only the first 16; the last 4 bytes belong to no tensor");
    }

    [Fact]
    public void Data_without_tensors_is_rejected()
    {
        Reject(FileBytes("{}", new byte[8])).Message.Should().Contain("the data section is 8 bytes but the tensors cover only the first 0");
    }

    [Fact]
    public void Bool_bytes_other_than_zero_and_one_are_rejected()
    {
        var bytes = FileBytes("{\"flags\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}", [1, 0, 2, 1]);

        Reject(bytes).Message.Should().Be($"{Source}: tensor 'flags' has BOOL element 2 with byte value 2; only 0 and 1 are valid");
    }

    [Fact]
    public void Hostile_input_through_a_stream_that_cannot_seek_is_rejected()
    {
        byte[] bytes = [.. UInt64LittleEndian(1UL << 62), .. new byte[8]];
        using var stream = new NonSeekableStream(bytes);

        var act = () => SafeTensorsReader.Read(stream, "pipe");

        act.Should().Throw<SafeTensorsFormatException>().Which.Message.Should().StartWith("pipe: the 8-byte prefix declares a header of 4611686018427387904 bytes");
    }

    [Fact]
    public void Reading_a_missing_file_throws_FileNotFoundException_not_a_format_error()
    {
        var act = () => SafeTensorsReader.ReadFile(Path.Combine(_directory, "absent.safetensors"));

        act.Should().Throw<FileNotFoundException>();
    }
}
