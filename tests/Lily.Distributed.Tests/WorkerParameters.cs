namespace Lily.Distributed.Tests;

/// <summary>Reads the trainable values the worker writes after training: name → values as float64.</summary>
internal static class WorkerParameters
{
    public static IReadOnlyDictionary<string, double[]> Read(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        var count = reader.ReadInt32();
        var values = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            var length = reader.ReadInt32();
            var data = new double[length];
            for (var j = 0; j < length; j++) data[j] = reader.ReadDouble();
            values[name] = data;
        }

        return values;
    }

    /// <summary>The largest absolute difference over every value, after checking both hold the same tensors.</summary>
    public static double MaxDifference(IReadOnlyDictionary<string, double[]> expected, IReadOnlyDictionary<string, double[]> actual)
    {
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        var max = 0.0;
        foreach (var (name, e) in expected)
        {
            actual[name].Length.Should().Be(e.Length, name);
            for (var i = 0; i < e.Length; i++) max = Math.Max(max, Math.Abs(e[i] - actual[name][i]));
        }

        return max;
    }
}
