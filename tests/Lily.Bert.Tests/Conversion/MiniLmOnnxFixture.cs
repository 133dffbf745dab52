using Lily.Bert.Conversion;
using Lily.Bert.Pretrained;

namespace Lily.Bert.Tests.Conversion;

/// <summary>The MiniLM package's ONNX export, parsed, and converted twice into two folders (shared by a test class).</summary>
public sealed class MiniLmOnnxFixture : IDisposable
{
    public MiniLmOnnxFixture()
    {
        var (dll, image) = BundledCheckpoints.ReadPackageAssembly(BundledModel.MiniLM);
        Onnx = BundledCheckpoints.Resource(BundledModel.MiniLM, dll, image, "model.onnx").ToArray();
        Model = OnnxReader.Read(Onnx, "MiniLM");
        Root = Directory.CreateTempSubdirectory("onnx-bert-").FullName;
        First = Path.Combine(Root, "a");
        Second = Path.Combine(Root, "b");
        OnnxBertConverter.Convert(Onnx, First, "first");
        OnnxBertConverter.Convert(Onnx, Second, "second");
    }

    public byte[] Onnx { get; }

    internal OnnxModel Model { get; }

    public string Root { get; }

    public string First { get; }

    public string Second { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
