using System.Globalization;
using Lily.Tuners;

namespace Lily.Planning;

/// <summary>The config <see cref="BudgetMatcher"/> chose and how close it came.</summary>
/// <param name="Config">The base config with the chosen rank (and stride_A / num_B for Lily).</param>
/// <param name="Trainable">Its trainable count, from <see cref="PeftPlan"/>.</param>
/// <param name="Budget">The budget asked for.</param>
/// <param name="RelativeGap"><c>(Trainable − Budget) / Budget</c>: negative under the budget, positive over it.</param>
public sealed record BudgetMatch(PeftConfig Config, long Trainable, long Budget, double RelativeGap)
{
    /// <summary>The method, its own settings as its file would hold them, the count and the gap, e.g. <c>LORA (r = 8, …): 12,288 trainable for a budget of 12,000 (+2.40 %)</c>.</summary>
    public override string ToString()
    {
        var w = new ConfigFieldWriter();
        Config.WriteMethodFields(w);
        var fields = string.Join(", ", w.ToJsonObject().OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key} = {f.Value?.ToJsonString() ?? "null"}"));
        return string.Format(CultureInfo.InvariantCulture, "{0} ({1}): {2:N0} trainable for a budget of {3:N0} ({4:+0.00 %;-0.00 %;0.00 %})",
            Config.PeftType, fields, Trainable, Budget, RelativeGap);
    }
}
