using System.Text.Json.Nodes;

namespace Lily.Tuners;

/// <summary>
/// Collects the fields of one <c>adapter_config.json</c> as a method's
/// <see cref="PeftConfig.WriteFields"/> writes them; keys are sorted when the file is written, as PEFT sorts them.
/// </summary>
public sealed class ConfigFieldWriter
{
    private readonly SortedDictionary<string, JsonNode?> fields = new(StringComparer.Ordinal);

    internal ConfigFieldWriter()
    {
    }

    /// <summary>
    /// Sets <paramref name="name"/> to <paramref name="value"/> (null writes JSON null). Numbers,
    /// strings and booleans convert to <see cref="JsonNode"/> implicitly: <c>w.Set("r", 8)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The field was already written: two writers would disagree about it.</exception>
    public void Set(string name, JsonNode? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!fields.TryAdd(name, value))
            throw new ArgumentException($"The field '{name}' is written twice (it may be one of the shared fields PeftConfig writes).", nameof(name));
    }

    /// <summary>Sets <paramref name="name"/> to a list of strings, or to null when <paramref name="values"/> is null.</summary>
    public void SetStrings(string name, IEnumerable<string>? values) =>
        Set(name, values is null ? null : new JsonArray(values.Select(v => (JsonNode?)v).ToArray()));

    /// <summary>The fields, sorted by name.</summary>
    internal JsonObject ToJsonObject() => new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));
}
