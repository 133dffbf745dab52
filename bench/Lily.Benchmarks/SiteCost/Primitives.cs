using System.Diagnostics;
using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Lily.Benchmarks.SiteCost;

/// <summary>
/// What the bookkeeping an adapted layer does per forward costs, one primitive at a time: a dispose
/// scope, reading a tensor's shape, dtype or flags, a view, TorchSharp's <c>Identity</c> (an alias),
/// a dictionary update keyed by adapter name. Each is run many times in a loop; ns per call and
/// managed bytes per call, the best of a few repetitions (the machine is shared).
/// </summary>
public static class Primitives
{
    private const int Calls = 20_000;

    /// <summary>Appends the table to <paramref name="report"/>.</summary>
    public static void Report(StringBuilder report)
    {
        using var x = randn(2, 128, 512);
        using var identity = nn.Identity();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal) { ["default"] = 0 };
        var layers = new Dictionary<string, object>(StringComparer.Ordinal) { ["default"] = x };
        string active = "default";
        (string Name, Action Call)[] cases =
        [
            ("NewDisposeScope() and its Dispose", () => NewDisposeScope().Dispose()),
            ("tensor.shape (a long[] each call)", () => _ = x.shape),
            ("tensor.size(-1)", () => _ = x.size(-1)),
            ("tensor.dim()", () => _ = x.dim()),
            ("tensor.dtype", () => _ = x.dtype),
            ("tensor.requires_grad", () => _ = x.requires_grad),
            ("tensor.is_contiguous()", () => _ = x.is_contiguous()),
            ("is_grad_enabled()", () => _ = is_grad_enabled()),
            ("reshape(-1, 512) to a view, disposed", () => x.reshape(-1, 512).Dispose()),
            ("Identity.forward (an alias), disposed", () => identity.forward(x).Dispose()),
            ("two dictionary reads and a write by adapter name", () =>
            {
                _ = layers.TryGetValue(active, out _);
                counts[active] = counts.GetValueOrDefault(active) + 1;
            }),
        ];
        report.AppendLine("| Primitive | ns per call | managed bytes per call |");
        report.AppendLine("|---|---:|---:|");
        foreach (var (name, call) in cases)
        {
            double best = double.MaxValue, bytes = 0;
            for (int rep = 0; rep < 5; rep++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < Calls; i++) call();
                best = Math.Min(best, sw.Elapsed.TotalNanoseconds / Calls);
                bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Calls;
            }
            report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {best:F0} | {bytes:F0} |");
        }
    }
}
