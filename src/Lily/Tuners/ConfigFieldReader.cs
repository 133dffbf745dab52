using System.Globalization;
using System.Text.Json.Nodes;

namespace Lily.Tuners;

/// <summary>
/// Typed access to the fields of one <c>adapter_config.json</c>, handed to a method's reader
/// (see <see cref="PeftMethods.Register"/>). Every getter returns null when the field is absent
/// and throws <see cref="InvalidDataException"/> naming the field and the file when the value has
/// the wrong type. Every field asked for is remembered, so the fields nobody read can be reported.
/// </summary>
public sealed class ConfigFieldReader
{
    private readonly JsonObject root;
    private readonly HashSet<string> seen = new(StringComparer.Ordinal);

    internal ConfigFieldReader(JsonObject root, string source)
    {
        this.root = root;
        Source = source;
    }

    /// <summary>The file's name, for messages.</summary>
    public string Source { get; }

    /// <summary>The raw value of <paramref name="name"/>; null when it is absent or JSON null.</summary>
    public JsonNode? Node(string name)
    {
        seen.Add(name);
        return root.TryGetPropertyValue(name, out var node) ? node : null;
    }

    /// <summary>A string field; null when absent or JSON null (PEFT writes null for unset strings).</summary>
    public string? String(string name)
    {
        var node = Node(name);
        if (node is null) return null;
        if (node is JsonValue value && value.TryGetValue(out string? result)) return result;
        throw Error(name, $"must be a string (got {node.ToJsonString()})");
    }

    /// <summary>A true/false field; null when absent. JSON null is an error: PEFT writes a boolean here.</summary>
    public bool? Bool(string name) => Get<bool>(name, "true or false");

    /// <summary>A whole-number field; null when absent. JSON null is an error: PEFT writes a number here.</summary>
    public int? Int(string name)
    {
        double? d = Double(name);
        if (d is null) return null;
        if (d != Math.Floor(d.Value) || d < int.MinValue || d > int.MaxValue)
            throw Error(name, $"must be a whole number (got {d.Value.ToString(CultureInfo.InvariantCulture)})");
        return (int)d.Value;
    }

    /// <summary>A number field; null when absent. JSON null is an error: PEFT writes a number here.</summary>
    public double? Double(string name) => Get<double>(name, "a number");

    /// <summary>A list of strings; null when absent or JSON null.</summary>
    public IReadOnlyList<string>? StringList(string name)
    {
        var node = Node(name);
        if (node is null) return null;
        if (node is not JsonArray list || list.Any(n => n is not JsonValue v || !v.TryGetValue<string>(out _)))
            throw Error(name, "must be a list of strings");
        return list.Select(n => n!.GetValue<string>()).ToList();
    }

    /// <summary>A list of whole numbers; null when absent or JSON null.</summary>
    public IReadOnlyList<int>? IntList(string name)
    {
        var node = Node(name);
        if (node is null) return null;
        if (node is not JsonArray list || list.Any(n => n is not JsonValue v || !IsWhole(v)))
            throw Error(name, $"must be a list of whole numbers (got {node.ToJsonString()})");
        return list.Select(n => (int)n!.GetValue<double>()).ToList();
    }

    /// <summary>
    /// Fails when any of <paramref name="names"/> is true: PEFT options that change the computation
    /// and that this library does not implement. Absent, null and false are fine.
    /// </summary>
    public void RejectTrue(params string[] names)
    {
        foreach (var name in names)
        {
            if (Node(name) is JsonValue v && v.TryGetValue(out bool b) && b)
                throw Error(name, "is true, which this library does not support");
        }
    }

    /// <summary>
    /// Fails when any of <paramref name="names"/> holds something other than null, false, <c>{}</c> or <c>[]</c>:
    /// PEFT options that change the computation and that this library does not implement.
    /// </summary>
    public void RejectNonEmpty(params string[] names)
    {
        foreach (var name in names)
        {
            var node = Node(name);
            bool empty = node is null or JsonObject { Count: 0 } or JsonArray { Count: 0 }
                || (node is JsonValue v && v.TryGetValue(out bool b) && !b);
            if (!empty) throw Error(name, $"is set ({node!.ToJsonString()}), which this library does not support");
        }
    }

    /// <summary>
    /// Marks PEFT fields that are deliberately not read (they do not change the result, e.g. settings
    /// of an initialisation this library rejects anyway), so they are not reported as unknown.
    /// </summary>
    public void Ignore(params string[] names)
    {
        foreach (var name in names) seen.Add(name);
    }

    /// <summary>An error for <paramref name="name"/>: "<c>file: 'name' problem.</c>".</summary>
    public InvalidDataException Error(string name, string problem) => new($"{Source}: '{name}' {problem}.");

    /// <summary>Fields in the file that nobody read or ignored, in file order.</summary>
    internal IReadOnlyList<string> UnreadFields() => root.Select(p => p.Key).Where(k => !seen.Contains(k)).ToList();

    private static bool IsWhole(JsonValue v) =>
        v.TryGetValue(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue;

    private T? Get<T>(string name, string expected) where T : struct
    {
        seen.Add(name);
        if (!root.TryGetPropertyValue(name, out var node)) return null;
        if (node is JsonValue value && value.TryGetValue(out T result)) return result;
        throw Error(name, $"must be {expected} (got {node?.ToJsonString() ?? "null"})");
    }
}
