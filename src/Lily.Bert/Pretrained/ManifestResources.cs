using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;

namespace Lily.Bert.Pretrained;

/// <summary>
/// Reads the embedded manifest resources of a .NET assembly file as bytes, through its metadata tables and the
/// CLI header's resources directory, without loading the assembly: the package's code (and its dependencies on
/// ML.NET and ONNX Runtime) never runs, and a DLL for another framework reads the same.
/// </summary>
internal static class ManifestResources
{
    /// <summary>Every embedded resource of the assembly image, by name, as slices of <paramref name="image"/>.</summary>
    /// <param name="image">The whole DLL file.</param>
    /// <param name="path">Names the file in error messages.</param>
    /// <exception cref="InvalidDataException">Not a .NET assembly, or a resource lies outside the resources directory.</exception>
    public static IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Read(byte[] image, string path)
    {
        var result = new SortedDictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        try
        {
            using var pe = new PEReader(ImmutableCollectionsMarshal.AsImmutableArray(image));
            if (!pe.HasMetadata || pe.PEHeaders.CorHeader is null)
                throw new InvalidDataException($"{path}: not a .NET assembly (no CLI header).");
            var directory = pe.PEHeaders.CorHeader.ResourcesDirectory;
            var metadata = pe.GetMetadataReader();
            var hasDirectory = pe.PEHeaders.TryGetDirectoryOffset(directory, out var directoryOffset) && directory.Size > 0;
            foreach (var handle in metadata.ManifestResources)
            {
                var resource = metadata.GetManifestResource(handle);
                // A non-nil implementation points at another file or assembly: nothing to read here.
                if (!resource.Implementation.IsNil) continue;
                var name = metadata.GetString(resource.Name);
                if (!hasDirectory) throw new InvalidDataException($"{path}: resource '{name}' is embedded but the assembly has no resources directory.");
                // Each embedded resource is a 4-byte little-endian length followed by the bytes, at its offset in the directory.
                var start = resource.Offset;
                if (start < 0 || start + 4 > directory.Size)
                    throw new InvalidDataException($"{path}: resource '{name}' starts outside the resources directory.");
                var length = BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(directoryOffset + (int)start, 4));
                if (length > (ulong)(directory.Size - start - 4))
                    throw new InvalidDataException($"{path}: resource '{name}' ({length} bytes) runs past the resources directory.");
                result[name] = image.AsMemory(directoryOffset + (int)start + 4, (int)length);
            }
        }
        catch (BadImageFormatException e)
        {
            throw new InvalidDataException($"{path}: not a readable .NET assembly ({e.Message}).", e);
        }
        return result;
    }
}
