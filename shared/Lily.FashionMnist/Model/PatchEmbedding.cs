using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.FashionMnist;

/// <summary>
/// Cuts an image into non-overlapping square patches and projects each to a <c>dim</c>-vector:
/// <c>[B, C, H, W]</c> → <c>[B, (H/p)·(W/p), dim]</c>.
/// </summary>
/// <remarks>
/// A convolution with kernel and stride equal to the patch size is exactly "flatten each patch,
/// then apply one shared Linear", done in one native call.
/// </remarks>
public sealed class PatchEmbedding : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> proj;

    /// <summary>Creates the patch embedding.</summary>
    /// <param name="imageSize">Height and width of the (square) input images.</param>
    /// <param name="patchSize">Side of a patch; must divide <paramref name="imageSize"/>.</param>
    /// <param name="inChannels">Channels of the input images (1 for Fashion-MNIST).</param>
    /// <param name="dim">Size of each patch embedding.</param>
    /// <param name="name">The module's name.</param>
    public PatchEmbedding(int imageSize, int patchSize, int inChannels, int dim, string name = "patch_embed")
        : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(patchSize, 1);
        if (imageSize % patchSize != 0)
        {
            throw new ArgumentException($"Patch size {patchSize} does not divide image size {imageSize}.", nameof(patchSize));
        }
        NumPatches = (imageSize / patchSize) * (imageSize / patchSize);
        proj = Conv2d(inChannels, dim, kernel_size: patchSize, stride: patchSize);
        RegisterComponents();
    }

    /// <summary>The number of patches (tokens) per image.</summary>
    public int NumPatches { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var features = proj.call(input);   // [B, dim, H/p, W/p]
        using var flat = features.flatten(2);     // [B, dim, N]
        return flat.transpose(1, 2);              // [B, N, dim]
    }
}
