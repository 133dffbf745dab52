using System.Globalization;
using System.Text;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Accounting;

/// <summary>
/// Parameter counts of a model with adapters. Every tensor is counted once, however many modules
/// share it, so the trainable count is what an optimizer actually updates.
/// </summary>
public sealed class ParameterSummary
{
    internal ParameterSummary(long trainable, long total, IReadOnlyList<AdaptedModuleSummary> modules)
    {
        TrainableParameters = trainable;
        AllParameters = total;
        Modules = modules;
    }

    /// <summary>Elements of all parameters that require gradients, each tensor counted once.</summary>
    public long TrainableParameters { get; }

    /// <summary>Elements of all parameters, frozen or not, each tensor counted once.</summary>
    public long AllParameters { get; }

    /// <summary>Trainable share in percent.</summary>
    public double TrainablePercent => AllParameters == 0 ? 0 : 100.0 * TrainableParameters / AllParameters;

    /// <summary>One row per adapted module, in traversal order.</summary>
    public IReadOnlyList<AdaptedModuleSummary> Modules { get; }

    /// <summary>PEFT's one-line summary: <c>trainable params: X || all params: Y || trainable%: Z</c>.</summary>
    public override string ToString() => string.Format(
        CultureInfo.InvariantCulture,
        "trainable params: {0:N0} || all params: {1:N0} || trainable%: {2:F4}",
        TrainableParameters, AllParameters, TrainablePercent);

    /// <summary>A plain-text table of the adapted modules, followed by the one-line summary.</summary>
    public string ToTable()
    {
        int width = Math.Max("module".Length, Modules.Count == 0 ? 0 : Modules.Max(m => m.Path.Length));
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"module".PadRight(width)}  {"adapter",-12} {"in",7} {"out",7} {"own",10} {"shared",10}");
        foreach (var m in Modules)
            sb.AppendLine(CultureInfo.InvariantCulture, $"{m.Path.PadRight(width)}  {m.Method,-12} {m.InFeatures,7} {m.OutFeatures,7} {m.OwnParameters,10:N0} {m.SharedParameters,10:N0}");
        sb.Append(ToString());
        return sb.ToString();
    }

    /// <summary>Counts the parameters of <paramref name="model"/> and describes <paramref name="adapters"/>.</summary>
    internal static ParameterSummary Of(nn.Module model, IReadOnlyList<(string Path, AdapterLinear Layer)> adapters)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        long trainable = 0, total = 0;
        foreach (var p in model.parameters())
        {
            if (!seen.Add(p)) continue;
            total += p.numel();
            if (p.requires_grad) trainable += p.numel();
        }

        var users = new AdapterTensorUsers(adapters.Select(a => a.Layer).ToList());
        var rows = adapters.Select((a, i) =>
        {
            var (own, shared) = users.CountsOf(i);
            return new AdaptedModuleSummary(a.Path, a.Layer.GetName(), a.Layer.InFeatures, a.Layer.OutFeatures, own, shared);
        }).ToList();
        return new ParameterSummary(trainable, total, rows);
    }
}
