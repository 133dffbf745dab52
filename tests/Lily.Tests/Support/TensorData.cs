using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>Conversions between nested arrays and tensors for tests.</summary>
public static class TensorData
{
    public static Tensor Matrix(double[][] rows, ScalarType dtype = ScalarType.Float32) =>
        tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]).to(dtype);

    public static Tensor Cube(double[][][] x, ScalarType dtype = ScalarType.Float32) =>
        tensor(x.SelectMany(s => s.SelectMany(t => t)).ToArray(), [x.Length, x[0].Length, x[0][0].Length]).to(dtype);

    public static double[][] Random(Random rng, int rows, int cols) =>
        Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, cols).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();

    public static double[] ToDoubles(Tensor t) => t.to(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();

    /// <summary>Copies <paramref name="value"/> into <paramref name="target"/> without recording gradients.</summary>
    public static void Set(Tensor target, Tensor value)
    {
        using (no_grad()) target.copy_(value);
    }
}
