using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Lily.Benchmarks;

/// <summary>A summary column computed by a function of the summary and the case.</summary>
/// <param name="name">Header.</param>
/// <param name="legend">What the column means, printed under the table.</param>
/// <param name="value">The cell's text.</param>
public sealed class FuncColumn(string name, string legend, Func<Summary, BenchmarkCase, string> value) : IColumn
{
    /// <inheritdoc />
    public string Id => nameof(FuncColumn) + "." + name;

    /// <inheritdoc />
    public string ColumnName => name;

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => 0;

    /// <inheritdoc />
    public bool IsNumeric => true;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => legend;

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => value(summary, benchmarkCase);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => value(summary, benchmarkCase);

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <summary>Mean time in nanoseconds of <paramref name="benchmarkCase"/>, if it ran.</summary>
    public static double? Mean(Summary summary, BenchmarkCase? benchmarkCase) =>
        benchmarkCase is null ? null : summary[benchmarkCase]?.ResultStatistics?.Mean;

    /// <summary>The value of parameter <paramref name="name"/> of <paramref name="benchmarkCase"/>.</summary>
    public static object Param(BenchmarkCase benchmarkCase, string name) => benchmarkCase.Parameters[name];

    /// <summary>
    /// The case of the same method and parameters as <paramref name="benchmarkCase"/> except
    /// <c>Adapter</c> = <paramref name="adapter"/>.
    /// </summary>
    public static BenchmarkCase? Sibling(Summary summary, BenchmarkCase benchmarkCase, Adapter adapter) =>
        summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor.WorkloadMethod == benchmarkCase.Descriptor.WorkloadMethod &&
            (Adapter)Param(c, "Adapter") == adapter &&
            c.Parameters.Items.Where(p => p.Name != "Adapter").All(p => Equals(p.Value, benchmarkCase.Parameters[p.Name])));

    /// <summary>Time of <paramref name="benchmarkCase"/> over its <paramref name="adapter"/> sibling's.</summary>
    public static double? Ratio(Summary summary, BenchmarkCase benchmarkCase, Adapter adapter) =>
        Mean(summary, benchmarkCase) is double t && Mean(summary, Sibling(summary, benchmarkCase, adapter)) is double b && b > 0 ? t / b : null;

    /// <summary>Invariant text with <paramref name="format"/>, or a dash.</summary>
    public static string Text(double? value, string format) =>
        value is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}

/// <summary>The extra columns of <see cref="LayerBenchmarks"/>.</summary>
public sealed class LayerColumns : ManualConfig
{
    /// <summary>Adds rank, budget, FLOP share, ratios and native memory.</summary>
    public LayerColumns()
    {
        static Adapter AdapterOf(BenchmarkCase c) => (Adapter)FuncColumn.Param(c, "Adapter");
        static LayerShape ShapeOf(BenchmarkCase c) => LayerShape.Parse((string)FuncColumn.Param(c, "Shape"));
        static bool Backward(BenchmarkCase c) => c.Descriptor.WorkloadMethod.Name != nameof(LayerBenchmarks.Forward);
        static string Operation(BenchmarkCase c) => Backward(c) ? "forward-backward" : "forward";
        static double Share(BenchmarkCase c) => LayerCase.FlopShare(AdapterOf(c), ShapeOf(c), Backward(c));

        AddColumn(
            new FuncColumn("r", "Adapter rank: LoRA 8; Lily the rank matching LoRA's budget on a 12-layer stack", (_, c) => AdapterOf(c) switch
            {
                Adapter.Frozen => "-",
                Adapter.Lora => Budget.LoraRank.ToString(CultureInfo.InvariantCulture),
                _ => LayerCase.LilyRank(ShapeOf(c).Dim).ToString(CultureInfo.InvariantCulture),
            }),
            new FuncColumn("Params/layer", "Trainable parameters per layer of a 12-layer stack (Lily: own A and router + 1/12 of the shared pool)",
                (_, c) => FuncColumn.Text(LayerCase.ParameterShare(AdapterOf(c), ShapeOf(c).Dim), "N0")),
            new FuncColumn("FLOP share", "Adapter multiply-adds over the frozen layer's, for the operation timed (forward: r(d_in+d_out)/(d_in*d_out) + router + routing extras; see LayerCase.FlopShare)",
                (_, c) => AdapterOf(c) == Adapter.Frozen ? "-" : FuncColumn.Text(100 * Share(c), "F2") + "%"),
            new FuncColumn("x Frozen", "Time over the frozen layer's time (same shape and operation)",
                (s, c) => FuncColumn.Text(FuncColumn.Ratio(s, c, Adapter.Frozen), "F3")),
            new FuncColumn("Ovh/FLOP", "Time overhead over the frozen layer divided by the FLOP share (target <= 1.5)",
                (s, c) => AdapterOf(c) == Adapter.Frozen || FuncColumn.Ratio(s, c, Adapter.Frozen) is not double ratio
                    ? "-"
                    : FuncColumn.Text((ratio - 1) / Share(c), "F2")),
            new FuncColumn("x LoRA", "Time over LoRA's time at the matched budget (same shape and operation)",
                (s, c) => FuncColumn.Text(FuncColumn.Ratio(s, c, Adapter.Lora), "F3")),
            new FuncColumn("Native peak", "Peak resident native memory of one call, measured in a child process (see NativeMemory)",
                (_, c) => NativeMemory.Format(NativeMemory.PeakBytes("layer", $"{AdapterOf(c)}:{ShapeOf(c)}", Operation(c)))));
    }
}

/// <summary>The extra columns of <see cref="TrainingStepBenchmarks"/>.</summary>
public sealed class TrainingColumns : ManualConfig
{
    /// <summary>Adds steps per second, the ratio to LoRA, the budget and native memory.</summary>
    public TrainingColumns()
    {
        static Adapter AdapterOf(BenchmarkCase c) => (Adapter)FuncColumn.Param(c, "Adapter");

        AddColumn(
            new FuncColumn("steps/s", "Training steps per second (1 / Mean)",
                (s, c) => FuncColumn.Text(FuncColumn.Mean(s, c) is double ns ? 1e9 / ns : null, "F2")),
            new FuncColumn("x LoRA", "Step time over LoRA's step time at the matched budget",
                (s, c) => FuncColumn.Text(FuncColumn.Ratio(s, c, Adapter.Lora), "F3")),
            new FuncColumn("r", "Adapter rank", (_, c) => TinyVitCase.RankOf(AdapterOf(c)).ToString(CultureInfo.InvariantCulture)),
            new FuncColumn("Trainable params", "Trainable parameters: the adapter and the trained head (PeftPlan)",
                (_, c) => FuncColumn.Text(TinyVitCase.TrainableParameters(AdapterOf(c)), "N0")),
            new FuncColumn("Native peak", "Peak resident native memory of one training step, measured in a child process",
                (_, c) => NativeMemory.Format(NativeMemory.PeakBytes("train", AdapterOf(c).ToString(), "step"))));
    }
}
