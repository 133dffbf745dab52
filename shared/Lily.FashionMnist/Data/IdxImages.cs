namespace Lily.FashionMnist;

/// <summary>
/// The raw contents of an IDX image file (magic <c>0x00000803</c>): <see cref="Count"/> images of
/// <see cref="Rows"/> × <see cref="Columns"/> unsigned bytes, stored row-major one image after the other.
/// </summary>
/// <param name="Pixels">All pixels, <c>Count * Rows * Columns</c> bytes, 0 (background) to 255.</param>
/// <param name="Count">The number of images.</param>
/// <param name="Rows">The height of each image in pixels.</param>
/// <param name="Columns">The width of each image in pixels.</param>
public sealed record IdxImages(byte[] Pixels, int Count, int Rows, int Columns)
{
    /// <summary>The number of pixels in one image (<c>Rows * Columns</c>).</summary>
    public int PixelsPerImage => Rows * Columns;
}
