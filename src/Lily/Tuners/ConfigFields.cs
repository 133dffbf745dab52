using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json.Nodes;
using Lily.Planning;

namespace Lily.Tuners;

/// <summary>
/// A method's own fields of <c>adapter_config.json</c>, each declared once: its name in the file, the config
/// property that holds it and the property's check. Writing (<see cref="Write"/>), reading (<see cref="Read"/>,
/// the reader to register in <see cref="PeftMethods"/>) and validation (<see cref="Validate"/>) all follow
/// from the table, so they cannot disagree; defaults are the properties' own initializers, because reading
/// starts from <c>new TConfig()</c> and sets only the fields the file has.
/// </summary>
/// <typeparam name="TConfig">The method's config.</typeparam>
/// <remarks>
/// Entries are read and validated in the order they are declared, so the first problem a file or config
/// has is the one reported. Keep the table in a static field of the config, next to the properties.
/// </remarks>
public sealed class ConfigFields<TConfig> where TConfig : PeftConfig, new()
{
    private readonly List<ConfigField> fields = [];
    private readonly Lazy<TConfig> defaults = new(() => new TConfig());
    private string? rankKnob;
    private readonly List<string> shapeKnobs = [];

    /// <summary>The declared fields, in declaration order.</summary>
    public IReadOnlyList<ConfigField> All => fields;

    /// <summary>A config with every property at its default: the values absent fields read as.</summary>
    public TConfig Defaults => defaults.Value;

    /// <summary>The file name of the field declared with <see cref="ConfigKnob.Rank"/>, or null (see <see cref="PeftConfig.RankKnob"/>).</summary>
    public string? RankKnob => rankKnob;

    /// <summary>The file names of the fields declared with <see cref="ConfigKnob.Shape"/> (see <see cref="PeftConfig.ShapeKnobs"/>).</summary>
    public IReadOnlyList<string> ShapeKnobs => shapeKnobs;

    /// <summary>
    /// A number, boolean or string field written as it is (<c>"r": 8</c>). Reading uses the matching getter of
    /// <see cref="ConfigFieldReader"/> (an <c>int</c> must be a whole number, JSON null is an error for a value type).
    /// </summary>
    /// <param name="property">The property, as <c>c =&gt; c.R</c>.</param>
    /// <param name="name">The field's name in the file.</param>
    /// <param name="check">Returns the problem with a value (the message goes on after the property's name), or null when it is valid.</param>
    /// <param name="knob">Whether the field sizes the adapter (for <see cref="BudgetMatcher"/>); only for <c>int</c> fields.</param>
    public ConfigFields<TConfig> Field<T>(Expression<Func<TConfig, T>> property, string name, Func<T, string?>? check = null, ConfigKnob knob = ConfigKnob.None)
    {
        var (info, get) = Property(property);
        Func<ConfigFieldReader, object?> readValue = typeof(T) switch
        {
            var t when t == typeof(int) => f => f.Int(name),
            var t when t == typeof(double) => f => f.Double(name),
            var t when t == typeof(bool) => f => f.Bool(name),
            var t when t == typeof(string) => f => f.String(name),
            var t => throw new NotSupportedException($"{info.Name}: no plain field of type {t.Name}; use Mapped."),
        };
        if (knob != ConfigKnob.None)
        {
            if (typeof(T) != typeof(int)) throw new ArgumentException($"{info.Name}: only an int field can size the adapter.", nameof(knob));
            if (knob == ConfigKnob.Rank)
            {
                if (rankKnob is not null) throw new ArgumentException($"{info.Name}: {rankKnob} is already the rank.", nameof(knob));
                rankKnob = name;
            }
            else shapeKnobs.Add(name);
        }
        return Add(new ConfigField(name, info.Name,
            (c, w) => w.Set(name, ConfigField.Plain(get((TConfig)c))),
            (f, c) =>
            {
                if (readValue(f) is { } value) info.SetValue(c, value);
            },
            Check(info.Name, get, check),
            c => get((TConfig)c)));
    }

    /// <summary>
    /// A field whose file form differs from the property's value (an enum written as PEFT's string, a pattern
    /// dictionary written as an object). Absent and JSON null read as the default.
    /// </summary>
    /// <param name="property">The property, as <c>c =&gt; c.InitLoraWeights</c>.</param>
    /// <param name="name">The field's name in the file.</param>
    /// <param name="toFile">The value as the file holds it.</param>
    /// <param name="fromFile">The value of the file's node (never null); throws <see cref="InvalidDataException"/> (e.g. <see cref="ConfigFieldReader.Error"/>) when it is not valid. It gets the field's name for its messages.</param>
    /// <param name="check">As for <see cref="Field{T}"/>.</param>
    /// <param name="omitDefault">Write the field only when the value is not the default (a field of ours that PEFT does not have).</param>
    public ConfigFields<TConfig> Mapped<T>(Expression<Func<TConfig, T>> property, string name, Func<T, JsonNode?> toFile,
        Func<ConfigFieldReader, string, JsonNode, T> fromFile, Func<T, string?>? check = null, bool omitDefault = false)
    {
        var (info, get) = Property(property);
        return Add(new ConfigField(name, info.Name,
            (c, w) =>
            {
                T value = get((TConfig)c);
                if (omitDefault && EqualityComparer<T>.Default.Equals(value, get(Defaults))) return;
                w.Set(name, toFile(value));
            },
            (f, c) =>
            {
                if (f.Node(name) is { } node) info.SetValue(c, fromFile(f, name, node));
            },
            Check(info.Name, get, check),
            c => get((TConfig)c)));
    }

    /// <summary>
    /// A PEFT field this library does not implement, written with PEFT's default so PEFT reads the file as
    /// meant; <paramref name="read"/> refuses a file whose value would change the computation.
    /// </summary>
    /// <param name="name">The field's name in the file.</param>
    /// <param name="value">What is written: PEFT's default.</param>
    /// <param name="read">Checks the file's value (given the field's name), e.g. with <see cref="ConfigFieldReader.RejectTrue"/>.</param>
    public ConfigFields<TConfig> Fixed(string name, JsonNode? value, Action<ConfigFieldReader, string> read) =>
        Add(new ConfigField(name, null, (_, w) => w.Set(name, value?.DeepClone()), (f, _) => read(f, name), null, null,
            "not implemented: written as PEFT's default, refused when a file sets what would change the result"));

    /// <summary>PEFT fields, not written, that refuse a file where they are true (see <see cref="ConfigFieldReader.RejectTrue"/>).</summary>
    public ConfigFields<TConfig> RejectTrue(params string[] names) => ReadOnly(names, (f, n) => f.RejectTrue(n), "not implemented: refused when true");

    /// <summary>PEFT fields, not written, that refuse a file where they are set (see <see cref="ConfigFieldReader.RejectNonEmpty"/>).</summary>
    public ConfigFields<TConfig> RejectNonEmpty(params string[] names) => ReadOnly(names, (f, n) => f.RejectNonEmpty(n), "not implemented: refused when set");

    /// <summary>PEFT fields, not written, that cannot change the result and so are not reported as unknown (see <see cref="ConfigFieldReader.Ignore"/>).</summary>
    public ConfigFields<TConfig> Ignore(params string[] names) => ReadOnly(names, (f, n) => f.Ignore(n), "read and ignored: it cannot change the result here");

    /// <summary>Writes every written field of <paramref name="config"/>: the body of <see cref="PeftConfig.WriteFields"/>.</summary>
    public void Write(TConfig config, ConfigFieldWriter w)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(w);
        foreach (var field in fields) field.Write(config, w);
    }

    /// <summary>
    /// Builds the config from the file's fields, each absent field at its default: the reader to register with
    /// <see cref="PeftMethods.Register"/>. The shared fields are left for the library to apply.
    /// </summary>
    public TConfig Read(ConfigFieldReader f)
    {
        ArgumentNullException.ThrowIfNull(f);
        // A fresh instance nobody else holds, so setting its init-only properties here is safe.
        var config = new TConfig();
        foreach (var field in fields) field.Read(f, config);
        return config;
    }

    /// <summary>Checks every field's value; throws <see cref="ArgumentException"/> naming the first invalid property. Call after <c>base.Validate()</c>.</summary>
    public void Validate(TConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var field in fields) field.Validate(config);
    }

    /// <summary>A copy of <paramref name="config"/> with the size setting <paramref name="knob"/> set to <paramref name="value"/>; null when no such setting is declared.</summary>
    public TConfig? WithKnob(TConfig config, string knob, int value)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (knob != rankKnob && !shapeKnobs.Contains(knob)) return null;
        var field = fields.Single(f => f.Name == knob && f.Property is not null);
        // A record's copy constructor through its public Clone contract: `with` with a property named at run time.
        var copy = (TConfig)typeof(TConfig).GetMethod("<Clone>$")!.Invoke(config, null)!;
        typeof(TConfig).GetProperty(field.Property!)!.SetValue(copy, value);
        return copy;
    }

    private ConfigFields<TConfig> ReadOnly(string[] names, Action<ConfigFieldReader, string> read, string note)
    {
        foreach (var name in names) Add(new ConfigField(name, null, null, (f, _) => read(f, name), null, null, note));
        return this;
    }

    private ConfigFields<TConfig> Add(ConfigField field)
    {
        if (fields.Any(f => f.Name == field.Name))
            throw new ArgumentException($"The field '{field.Name}' is declared twice.", nameof(field));
        fields.Add(field);
        return this;
    }

    private static Action<PeftConfig>? Check<T>(string property, Func<TConfig, T> get, Func<T, string?>? check) =>
        check is null ? null : c =>
        {
            if (check(get((TConfig)c)) is { } problem) throw new ArgumentException($"{property} {problem}", property);
        };

    private static (PropertyInfo Info, Func<TConfig, T> Get) Property<T>(Expression<Func<TConfig, T>> property)
    {
        ArgumentNullException.ThrowIfNull(property);
        if (property.Body is not MemberExpression { Member: PropertyInfo info } || info.SetMethod is null)
            throw new ArgumentException($"Expected a settable property of {typeof(TConfig).Name}, as c => c.Name (got {property}).", nameof(property));
        return (info, property.Compile());
    }
}
