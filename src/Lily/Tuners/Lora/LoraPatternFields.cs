using System.Text.Json.Nodes;
using Lily.Matching;

namespace Lily.Tuners;

/// <summary>
/// <c>rank_pattern</c> and <c>alpha_pattern</c> in <c>adapter_config.json</c>: JSON objects whose key order is
/// the order keys are tried, kept as read and as written.
/// </summary>
internal static class LoraPatternFields
{
    /// <summary>The pattern as a JSON object in its enumeration order; <c>{}</c> for none, as PEFT writes it.</summary>
    public static JsonObject Write<T>(IReadOnlyDictionary<string, T>? pattern) =>
        new((pattern ?? new Dictionary<string, T>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));

    /// <summary>Ranks by key from the field <paramref name="name"/>'s <paramref name="node"/>; null for <c>{}</c>.</summary>
    public static IReadOnlyDictionary<string, int>? ReadRanks(ConfigFieldReader f, string name, JsonNode node) =>
        Read<int>(f, name, node, "a whole number of at least 1", v => v.TryGetValue(out double d) && d == Math.Floor(d) && d is >= 1 and <= int.MaxValue ? (int)d : null);

    /// <summary>Alphas by key from the field <paramref name="name"/>'s <paramref name="node"/>; null for <c>{}</c>.</summary>
    public static IReadOnlyDictionary<string, double>? ReadAlphas(ConfigFieldReader f, string name, JsonNode node) =>
        Read<double>(f, name, node, "a number", v => v.TryGetValue(out double d) && double.IsFinite(d) ? d : (double?)null);

    /// <summary>
    /// The problem with a pattern's keys (thrown, see <see cref="PatternKey.Validate"/>) or with a value
    /// (<paramref name="valid"/> false: "gives 'key' <paramref name="what"/> value; <paramref name="rule"/>"); null when it is valid.
    /// </summary>
    public static string? Check<T>(IReadOnlyDictionary<string, T>? pattern, string property, string what, Func<T, bool> valid, string rule)
    {
        PatternKey.Validate(pattern, property);
        foreach (var (key, value) in pattern ?? new Dictionary<string, T>())
        {
            if (!valid(value)) return $"gives '{key}' {what} {value}; {rule}";
        }
        return null;
    }

    private static OrderedMap<string, T>? Read<T>(ConfigFieldReader f, string name, JsonNode node, string kind, Func<JsonValue, T?> value) where T : struct
    {
        if (node is not JsonObject obj) throw f.Error(name, $"must be an object of module keys to values (got {node.ToJsonString()})");
        if (obj.Count == 0) return null;
        var result = new OrderedMap<string, T>(StringComparer.Ordinal);
        foreach (var (key, item) in obj)
        {
            if (item is not JsonValue v || value(v) is not T parsed)
                throw f.Error(name, $"gives '{key}' {item?.ToJsonString() ?? "null"}, not {kind}");
            result.Add(key, parsed);
        }
        return result;
    }
}
