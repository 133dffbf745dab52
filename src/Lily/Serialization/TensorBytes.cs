using System.Runtime.InteropServices;
using TorchSharp;

namespace Lily.Serialization;

/// <summary>
/// Moves bytes between TorchSharp tensors and the safetensors layout (little-endian, row-major, dense).
/// </summary>
internal static class TensorBytes
{
    /// <summary>The dtype, shape and stored byte length a tensor will have in a file.</summary>
    /// <exception cref="NotSupportedException">The dtype or layout cannot be stored, or the tensor is over 2 GiB.</exception>
    public static (SafeTensorsDType DType, long[] Shape, long ByteLength) Describe(string name, torch.Tensor tensor)
    {
        EnsureLittleEndian();
        if (!tensor.dtype.TryGetSafeTensorsDType(out var dtype))
        {
            throw new NotSupportedException($"Tensor '{name}' has TorchSharp dtype {tensor.dtype}, which safetensors cannot store.");
        }

        if (tensor.is_sparse)
        {
            throw new NotSupportedException($"Tensor '{name}' is sparse; convert it with to_dense() before saving.");
        }

        var shape = tensor.shape;
        var byteLength = checked(tensor.numel() * dtype.ElementSize());

        // Tensor.bytes exposes the storage as a Span, whose length is an int.
        if (byteLength > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{name}' is {byteLength} bytes; tensors over {Array.MaxLength} bytes are not supported.");
        }

        return (dtype, shape, byteLength);
    }

    /// <summary>Writes the tensor's bytes to <paramref name="stream"/>, copying it to the CPU and making it contiguous first.</summary>
    public static void WriteTo(string name, torch.Tensor tensor, long expectedLength, Stream stream)
    {
        // Every temporary made here (detached alias, CPU copy, contiguous copy) is freed with the scope, and the
        // caller's tensor, created outside it, is not touched. Without a scope a CUDA tensor would leak its CPU copy
        // until the finalizer runs.
        using var scope = torch.NewDisposeScope();
        var dense = tensor.detach().cpu().contiguous();
        var bytes = dense.bytes;
        if (bytes.Length != expectedLength)
        {
            // The tensor changed shape or dtype between Describe and now (another thread resized it in place);
            // writing it would make the header lie about the data.
            throw new InvalidOperationException($"Tensor '{name}' was expected to be {expectedLength} bytes but is {bytes.Length}; was it modified while being saved?");
        }

        stream.Write(bytes);
    }

    /// <summary>Copies the tensor's bytes into a new array.</summary>
    public static byte[] ToArray(string name, torch.Tensor tensor, long expectedLength)
    {
        using var buffer = new MemoryStream(checked((int)expectedLength));
        WriteTo(name, tensor, expectedLength, buffer);
        return buffer.ToArray();
    }

    /// <summary>Creates a CPU tensor holding exactly the entry's bits.</summary>
    public static torch.Tensor ToTensor(SafeTensorEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        EnsureLittleEndian();
        if (!entry.DType.TryGetScalarType(out var scalarType))
        {
            throw new NotSupportedException(
                $"Tensor '{entry.Name}' has dtype {entry.DType.ToHeaderString()}, which TorchSharp has no scalar type for; read its raw bytes from SafeTensorEntry.Data instead.");
        }

        // Copying the raw bytes into an empty tensor keeps every bit (NaN payloads, negative zero, F16/BF16
        // subnormals); going through float[] or torch.frombuffer would convert values instead.
        var tensor = torch.empty(entry.ShapeArray, dtype: scalarType, device: torch.CPU);
        try
        {
            // The setter only reads from the span; AsMemory drops the read-only marker the API lacks.
            tensor.bytes = MemoryMarshal.AsMemory(entry.Data).Span;
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private static void EnsureLittleEndian()
    {
        // safetensors data is little-endian and Tensor.bytes is in host order; a big-endian host would need
        // a byte swap per element, which nobody running libtorch needs today.
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors tensor conversion needs a little-endian host.");
        }
    }
}
