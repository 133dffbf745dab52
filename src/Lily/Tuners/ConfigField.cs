using System.Text.Json.Nodes;

namespace Lily.Tuners;

/// <summary>
/// One entry of a method's <see cref="ConfigFields{TConfig}"/>: a field of <c>adapter_config.json</c>, the
/// config property it holds (if any), how it is written, read and checked. Built by the table's methods; the
/// table is the only place the field's name, property and check are spelled, and the property's initializer
/// is the only place its default is.
/// </summary>
public sealed class ConfigField
{
    private readonly Action<PeftConfig, ConfigFieldWriter>? write;
    private readonly Action<ConfigFieldReader, PeftConfig> read;
    private readonly Action<PeftConfig>? validate;
    private readonly Func<PeftConfig, object?>? get;

    internal ConfigField(string name, string? property, Action<PeftConfig, ConfigFieldWriter>? write,
        Action<ConfigFieldReader, PeftConfig> read, Action<PeftConfig>? validate, Func<PeftConfig, object?>? get, string? note = null)
    {
        Name = name;
        Note = note;
        Property = property;
        this.write = write;
        this.read = read;
        this.validate = validate;
        this.get = get;
    }

    /// <summary>The field's name in <c>adapter_config.json</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// The config property the field holds (its CLR name, which validation messages start with); null for a
    /// PEFT field this library writes with PEFT's fixed default or only checks on reading.
    /// </summary>
    public string? Property { get; }

    /// <summary>For a field without a property, what the library does with it (for the generated field reference).</summary>
    internal string? Note { get; }

    /// <summary>True when the field is written to the file.</summary>
    public bool IsWritten => write is not null;

    /// <summary>The property's value in <paramref name="config"/>; null for a field without a property.</summary>
    public object? ValueIn(PeftConfig config) => get?.Invoke(config);

    internal void Write(PeftConfig config, ConfigFieldWriter w) => write?.Invoke(config, w);

    internal void Read(ConfigFieldReader f, PeftConfig config) => read(f, config);

    internal void Validate(PeftConfig config) => validate?.Invoke(config);

    /// <summary>The field's name.</summary>
    public override string ToString() => Name;

    /// <summary>The value as PEFT writes a number, string or boolean; anything else must be mapped by its field.</summary>
    internal static JsonNode? Plain(object? value) => value switch
    {
        null => null,
        int i => JsonValue.Create(i),
        double d => JsonValue.Create(d),
        bool b => JsonValue.Create(b),
        string s => JsonValue.Create(s),
        _ => throw new NotSupportedException($"No plain JSON form for {value.GetType().Name}; declare the field with a mapping."),
    };
}
