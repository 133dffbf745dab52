using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>
/// A fact that runs only where a CUDA build of libtorch and a CUDA device exist (for example
/// <c>-p:TorchBackend=cuda</c> on a GPU machine); elsewhere it is reported as skipped, never as passed.
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when no CUDA device is available.</summary>
    public CudaFactAttribute()
    {
        if (!cuda.is_available()) Skip = "No CUDA device here (CPU build of libtorch or no GPU): this test needs one.";
    }
}
