using Lily.FashionMnist;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// The training benchmark's model: the Fashion-MNIST <see cref="VisionTransformer"/> (shared/Lily.FashionMnist) at ViT-Tiny's width and
/// MLP, with fewer blocks, on 32×32 RGB images in 4×4 patches.
/// </summary>
public static class TinyVitSize
{
    /// <summary>Model width d.</summary>
    public const int Dim = 192;

    /// <summary>Attention heads.</summary>
    public const int Heads = 3;

    /// <summary>MLP hidden width (4d).</summary>
    public const int Hidden = 4 * Dim;

    /// <summary>Transformer blocks.</summary>
    public const int Depth = 4;

    /// <summary>Patches per image (8×8); the class token makes 65 tokens.</summary>
    public const int Patches = 64;

    /// <summary>Image side and channels: 32×32 RGB in 4×4 patches gives 8×8 patches.</summary>
    public const int ImageSize = 32;

    /// <inheritdoc cref="ImageSize"/>
    public const int Channels = 3;

    /// <summary>Images per batch.</summary>
    public const int Batch = 16;

    /// <summary>Classes of the head.</summary>
    public const int Classes = 10;

    /// <summary>Builds the model (the Fashion-MNIST ViT of shared/Lily.FashionMnist, at these sizes) on <paramref name="device"/>.</summary>
    public static VisionTransformer Create(Device device)
    {
        var model = new VisionTransformer(imageSize: ImageSize, patchSize: 4, dim: Dim, depth: Depth, heads: Heads, mlpRatio: 4.0, numClasses: Classes, inChannels: Channels);
        model.to(device);
        return model;
    }

    /// <summary>Names of the adapted modules.</summary>
    public static IReadOnlyList<string> TargetModules { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"];
}
