using System.Text;
using Lily.Serialization;
using TorchSharp;
using static Lily.Tests.Serialization.SafeTensorsTests;

namespace Lily.Tests.Serialization;

/// <summary>A failed save must leave the previous file byte-identical and no temporary file behind.</summary>
public sealed class SafeTensorsAtomicSaveTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("lily-st-atomic-").FullName;
    private readonly string _path;
    private readonly byte[] _previous;

    public SafeTensorsAtomicSaveTests()
    {
        _path = Path.Combine(_directory, "adapter_model.safetensors");
        using var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, [new SafeTensorEntry("old", SafeTensorsDType.I32, [2], new byte[] { 1, 0, 0, 0, 2, 0, 0, 0 })]);
        _previous = stream.ToArray();
        File.WriteAllBytes(_path, _previous);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private void ShouldBeUntouched()
    {
        File.ReadAllBytes(_path).Should().Equal(_previous);
        Directory.GetFileSystemEntries(_directory).Should().Equal([_path], "no temporary file may remain");
    }

    private static IEnumerable<KeyValuePair<string, torch.Tensor>> ThrowAfterFirst(torch.Tensor first)
    {
        yield return new KeyValuePair<string, torch.Tensor>("first", first);
        throw new InvalidOperationException("enumeration failed");
    }

    [Fact]
    public void Enumerator_that_throws_leaves_the_previous_file()
    {
        using var first = torch.ones(3);

        var act = () => SafeTensorsWriter.Save(_path, ThrowAfterFirst(first));

        act.Should().Throw<InvalidOperationException>().WithMessage("enumeration failed");
        ShouldBeUntouched();
    }

    [Fact]
    public void Unsupported_tensor_leaves_the_previous_file()
    {
        using var good = torch.ones(3);
        using var complex = torch.zeros([2], dtype: torch.ScalarType.ComplexFloat64);

        var act = () => SafeTensorsWriter.Save(_path, Pairs(("good", good), ("bad", complex)));

        act.Should().Throw<NotSupportedException>();
        ShouldBeUntouched();
    }

    [Fact]
    public void Disposed_tensor_leaves_the_previous_file()
    {
        using var good = torch.ones(3);
        var disposed = torch.ones(3);
        disposed.Dispose();

        var act = () => SafeTensorsWriter.Save(_path, Pairs(("good", good), ("gone", disposed)));

        act.Should().Throw<Exception>();
        ShouldBeUntouched();
    }

    [Fact]
    public void Failure_after_part_of_the_content_was_written_leaves_the_previous_file()
    {
        string? tempPath = null;

        var act = () => AtomicFile.Write(_path, stream =>
        {
            tempPath = ((FileStream)stream).Name;
            stream.Write(new byte[100_000]);
            stream.Flush();
            throw new IOException("disk full");
        });

        act.Should().Throw<IOException>().WithMessage("disk full");
        tempPath.Should().NotBeNull();
        Path.GetDirectoryName(tempPath).Should().Be(_directory, "the temporary file must be on the target's file system");
        File.Exists(tempPath).Should().BeFalse();
        ShouldBeUntouched();
    }

    [Fact]
    public void Callback_that_disposes_the_stream_fails_cleanly()
    {
        var act = () => AtomicFile.Write(_path, stream =>
        {
            stream.WriteByte(1);
            stream.Dispose();
        });

        act.Should().Throw<ObjectDisposedException>();
        ShouldBeUntouched();
    }

    [Fact]
    public void Successful_save_replaces_the_file_and_leaves_no_temporary_file()
    {
        using var fresh = torch.tensor(new[] { 4f, 5f });

        SafeTensorsWriter.Save(_path, Pairs(("fresh", fresh)));

        Directory.GetFileSystemEntries(_directory).Should().Equal([_path]);
        using var loaded = SafeTensorsReader.ReadFile(_path).ToTensor("fresh");
        loaded.data<float>().ToArray().Should().Equal(4f, 5f);
        SafeTensorsReader.ReadFile(_path).TryGetEntry("old", out _).Should().BeFalse();
    }

    [Fact]
    public void Save_creates_a_new_file()
    {
        var path = Path.Combine(_directory, "new.safetensors");

        SafeTensorsWriter.Save(path, [new SafeTensorEntry("x", SafeTensorsDType.U8, [1], new byte[] { 42 })]);

        SafeTensorsReader.ReadFile(path)["x"].Data.ToArray().Should().Equal(42);
        Directory.GetFileSystemEntries(_directory).Should().BeEquivalentTo([_path, path]);
    }

    [Fact]
    public void Missing_directory_is_reported_and_nothing_is_created()
    {
        var path = Path.Combine(_directory, "missing", "x.safetensors");

        var act = () => SafeTensorsWriter.Save(path, Array.Empty<SafeTensorEntry>());

        act.Should().Throw<DirectoryNotFoundException>().WithMessage("*does not exist*");
        ShouldBeUntouched();
    }

    [Fact]
    public void Target_that_is_a_directory_is_refused_before_writing()
    {
        var path = Path.Combine(_directory, "sub");
        Directory.CreateDirectory(path);
        var called = false;

        var act = () => AtomicFile.Write(path, _ => called = true);

        act.Should().Throw<IOException>().WithMessage("*is a directory*");
        called.Should().BeFalse();
        Directory.GetFileSystemEntries(_directory).Should().BeEquivalentTo([_path, path]);
    }

    [Fact]
    public void WriteAllText_writes_utf8_without_bom_atomically()
    {
        var path = Path.Combine(_directory, "adapter_config.json");
        File.WriteAllText(path, "old");

        AtomicFile.WriteAllText(path, "{\"r\": 8, \"note\": \"✓\"}");

        File.ReadAllBytes(path).Should().Equal(Encoding.UTF8.GetBytes("{\"r\": 8, \"note\": \"✓\"}"));
        Directory.GetFileSystemEntries(_directory).Should().BeEquivalentTo([_path, path]);
    }

    [Fact]
    public void Long_file_names_still_get_a_temporary_file()
    {
        var path = Path.Combine(_directory, new string('n', 240) + ".json");

        AtomicFile.WriteAllBytes(path, [1, 2, 3]);

        File.ReadAllBytes(path).Should().Equal(1, 2, 3);
    }
}
