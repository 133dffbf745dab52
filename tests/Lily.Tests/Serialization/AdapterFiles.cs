using System.Runtime.InteropServices;
using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>Helpers for adapter save/load tests: temporary directories, model snapshots, hand-built tensors.</summary>
internal static class AdapterFiles
{
    public static string WeightsPath(string directory) => Path.Combine(directory, PeftModel.WeightsFileName);

    public static string ConfigPath(string directory) => Path.Combine(directory, AdapterConfigFile.FileName);

    /// <summary>Sets every trainable parameter (adapters and modules to save) to random, trained-looking values.</summary>
    public static void Randomize<TModel>(PeftModel<TModel> peft) where TModel : nn.Module
    {
        using (no_grad())
        {
            foreach (var p in peft.TrainableParameters()) p.copy_(randn_like(p) * 0.5);
        }
    }

    /// <summary>Every adapter key of the model with a copy of its current value.</summary>
    public static Dictionary<string, Tensor> AdapterValues<TModel>(PeftModel<TModel> peft) where TModel : nn.Module =>
        peft.StateDictEntries().ToDictionary(e => e.Key, e => (Tensor)e.Parameter.detach().clone());

    /// <summary>Same shape and the same values bit for bit (NaN aside).</summary>
    public static bool Identical(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.allclose(b, rtol: 0, atol: 0);

    /// <summary>A float32 entry from values in row-major order.</summary>
    public static SafeTensorEntry F32(string name, long[] shape, IEnumerable<double> values)
    {
        var floats = values.Select(v => (float)v).ToArray();
        return new SafeTensorEntry(name, SafeTensorsDType.F32, shape, MemoryMarshal.AsBytes(floats.AsSpan()).ToArray());
    }

    /// <summary>A float32 entry from a matrix.</summary>
    public static SafeTensorEntry F32(string name, double[][] rows) =>
        F32(name, [rows.Length, rows[0].Length], rows.SelectMany(r => r));

    /// <summary>An entry holding the same values in another floating-point dtype (values must be exact in it).</summary>
    public static SafeTensorEntry Convert(SafeTensorEntry entry, SafeTensorsDType dtype)
    {
        var floats = MemoryMarshal.Cast<byte, float>(entry.Data.Span).ToArray();
        byte[] bytes = dtype switch
        {
            SafeTensorsDType.F32 => entry.Data.ToArray(),
            SafeTensorsDType.F64 => MemoryMarshal.AsBytes(floats.Select(f => (double)f).ToArray().AsSpan()).ToArray(),
            SafeTensorsDType.F16 => MemoryMarshal.AsBytes(floats.Select(f => BitConverter.HalfToInt16Bits((Half)f)).ToArray().AsSpan()).ToArray(),
            // bfloat16 is the upper half of a float32.
            SafeTensorsDType.BF16 => MemoryMarshal.AsBytes(floats.Select(f => (short)(BitConverter.SingleToInt32Bits(f) >> 16)).ToArray().AsSpan()).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        return new SafeTensorEntry(entry.Name, dtype, entry.Shape.ToArray(), bytes);
    }

    /// <summary>Rewrites a safetensors file through <paramref name="edit"/> (entries) and <paramref name="editMetadata"/>.</summary>
    public static void Rewrite(string path, Func<List<SafeTensorEntry>, IEnumerable<SafeTensorEntry>> edit,
        Action<Dictionary<string, string>>? editMetadata = null)
    {
        var file = SafeTensorsReader.ReadFile(path);
        var metadata = file.Metadata.ToDictionary(m => m.Key, m => m.Value);
        editMetadata?.Invoke(metadata);
        var entries = edit(file.Entries.ToList()).ToList();
        SafeTensorsWriter.Save(path, entries, metadata);
    }

    /// <summary>Tensor data bytes of a safetensors file: its length minus the 8-byte prefix and the header.</summary>
    public static long DataSectionLength(string path)
    {
        var bytes = File.ReadAllBytes(path);
        ulong header = 0;
        for (int i = 7; i >= 0; i--) header = (header << 8) | bytes[i];
        return bytes.LongLength - 8 - (long)header;
    }
}

/// <summary>
/// Everything observable about a model's structure and weights: module paths and types, and every
/// parameter and buffer with dtype, shape, requires_grad and exact bytes.
/// </summary>
internal sealed class ModelSnapshot
{
    private readonly List<string> modules;
    private readonly List<string> tensors;
    private readonly List<byte[]> data;

    private ModelSnapshot(List<string> modules, List<string> tensors, List<byte[]> data)
    {
        this.modules = modules;
        this.tensors = tensors;
        this.data = data;
    }

    public static ModelSnapshot Of(nn.Module model)
    {
        var modules = model.named_modules().Select(m => $"{m.name}: {m.module.GetType().FullName} training={m.module.training}").ToList();
        var tensors = new List<string>();
        var data = new List<byte[]>();
        foreach (var (name, p) in model.named_parameters())
        {
            tensors.Add($"{name} {p.dtype} [{string.Join(",", p.shape)}] grad={p.requires_grad}");
            data.Add(p.detach().cpu().contiguous().bytes.ToArray());
        }
        foreach (var (name, b) in model.named_buffers())
        {
            tensors.Add($"buffer {name} {b.dtype} [{string.Join(",", b.shape)}]");
            data.Add(b.detach().cpu().contiguous().bytes.ToArray());
        }
        return new ModelSnapshot(modules, tensors, data);
    }

    public void ShouldEqual(ModelSnapshot other)
    {
        other.modules.Should().Equal(modules, "the module tree (paths, types, training mode) must be as before");
        other.tensors.Should().Equal(tensors, "parameters (names, dtypes, shapes, requires_grad) must be as before");
        for (int i = 0; i < data.Count; i++)
            other.data[i].Should().Equal(data[i], $"the bytes of {tensors[i]} must be as before");
    }
}
