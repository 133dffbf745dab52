using System.Text.Json.Nodes;

namespace Lily.Tuners;

/// <summary>
/// The fields of <c>adapter_config.json</c> every method shares (<see cref="PeftConfig"/>'s), each declared once:
/// its name in the file, the property or properties it holds, how it is written and how it is read. Several are
/// unions in PEFT's file (<c>target_modules</c> is a list, a regular expression or <c>"all-linear"</c>), so each
/// entry spells its own conversion; defaults are the properties' initializers, because reading sets only what
/// the file has. Their checks involve several fields at once and stay in <see cref="PeftConfig.Validate"/>.
/// </summary>
internal static class SharedConfigFields
{
    /// <summary>The shared fields, in the order they are read.</summary>
    public static readonly IReadOnlyList<ConfigField> All =
    [
        Field("target_modules", nameof(PeftConfig.TargetModules), TargetModulesNode, (f, name, c) =>
        {
            if (f.Node(name) is JsonValue v && v.TryGetValue(out string? text) && string.Equals(text, PeftConfig.AllLinear, StringComparison.OrdinalIgnoreCase))
                Set(c, nameof(PeftConfig.TargetModules), new[] { PeftConfig.AllLinear });    // PEFT compares it case-insensitively
            else
                ReadNamesOrRegex(f, name, c, nameof(PeftConfig.TargetModules), nameof(PeftConfig.TargetModulesRegex), "must be a list of names or a regular expression");
        }),
        Field("exclude_modules", nameof(PeftConfig.ExcludeModules),
            c => c.ExcludeModulesRegex is not null ? JsonValue.Create(c.ExcludeModulesRegex) : Strings(c.ExcludeModules),
            (f, name, c) =>
            {
                if (f.Node(name) is not null)
                    ReadNamesOrRegex(f, name, c, nameof(PeftConfig.ExcludeModules), nameof(PeftConfig.ExcludeModulesRegex), "must be a list of names, a regular expression or null");
            }),
        // PEFT also accepts a single int or string here; we always write a list (a single pattern as a string, as PEFT does).
        Field("layers_to_transform", nameof(PeftConfig.LayersToTransform),
            c => c.LayersToTransform is null ? null : new JsonArray(c.LayersToTransform.Select(i => (JsonNode?)i).ToArray()),
            (f, name, c) => Set(c, nameof(PeftConfig.LayersToTransform), f.Node(name) is JsonValue ? new[] { f.Int(name)!.Value } : f.IntList(name))),
        Field("layers_pattern", nameof(PeftConfig.LayersPattern),
            c => c.LayersPattern is { Count: 1 } one ? JsonValue.Create(one[0]) : Strings(c.LayersPattern),
            (f, name, c) => Set(c, nameof(PeftConfig.LayersPattern), f.Node(name) is JsonValue ? new[] { f.String(name)! } : f.StringList(name))),
        Field("modules_to_save", nameof(PeftConfig.ModulesToSave),
            c => c.ModulesToSave is { Count: > 0 } save ? Strings(save) : null,
            (f, name, c) => Set(c, nameof(PeftConfig.ModulesToSave), f.StringList(name))),
        Field("inference_mode", nameof(PeftConfig.InferenceMode),
            c => c.InferenceMode,
            (f, name, c) =>
            {
                if (f.Bool(name) is bool value) Set(c, nameof(PeftConfig.InferenceMode), value);
            }),
        // Where the adapter came from: PEFT writes them, they do not change what it computes.
        Provenance("auto_mapping"),
        Provenance("base_model_name_or_path"),
        Provenance("revision"),
        Provenance("task_type"),
        new ConfigField("peft_version", null, null, (f, _) => f.Ignore("peft_version"), null, null, ProvenanceNote),
    ];

    /// <summary>Writes every shared field of <paramref name="config"/>.</summary>
    public static void Write(PeftConfig config, ConfigFieldWriter w)
    {
        foreach (var field in All) field.Write(config, w);
    }

    /// <summary>A copy of the method's <paramref name="config"/> with the file's shared fields applied.</summary>
    public static PeftConfig Apply(ConfigFieldReader f, PeftConfig config)
    {
        // A copy, so a reader that returns an instance it keeps is not changed; setting the copy's
        // init-only properties before anyone else sees it is safe.
        var copy = (PeftConfig)config.GetType().GetMethod("<Clone>$")!.Invoke(config, null)!;
        foreach (var field in All) field.Read(f, copy);
        return copy;
    }

    private static ConfigField Field(string name, string property, Func<PeftConfig, JsonNode?> write, Action<ConfigFieldReader, string, PeftConfig> read) =>
        new(name, property, (c, w) => w.Set(name, write(c)), (f, c) => read(f, name, c), null, null);

    private static ConfigField Provenance(string name) =>
        new(name, null, (_, w) => w.Set(name, null), (f, _) => f.Ignore(name), null, null, ProvenanceNote);

    private const string ProvenanceNote = "where the adapter came from: written as null, ignored on reading";

    private static void Set(PeftConfig config, string property, object? value) =>
        typeof(PeftConfig).GetProperty(property)!.SetValue(config, value);

    private static JsonNode? TargetModulesNode(PeftConfig config)
    {
        if (config.TargetModulesRegex is { Length: > 0 } regex) return JsonValue.Create(regex);
        if (config.TargetModules is [PeftConfig.AllLinear]) return JsonValue.Create(PeftConfig.AllLinear);
        return Strings(config.TargetModules ?? throw new ArgumentException("The config has no target modules.", nameof(config)));
    }

    private static JsonArray? Strings(IEnumerable<string>? values) =>
        values is null ? null : new JsonArray(values.Select(v => (JsonNode?)v).ToArray());

    /// <summary>
    /// PEFT's "a list of module names, or one string that is a regular expression" (target_modules,
    /// exclude_modules): the list goes to <paramref name="listProperty"/>, the string to <paramref name="regexProperty"/>.
    /// </summary>
    private static void ReadNamesOrRegex(ConfigFieldReader f, string name, PeftConfig c, string listProperty, string regexProperty, string expected)
    {
        switch (f.Node(name))
        {
            case JsonValue v when v.TryGetValue(out string? regex):
                Set(c, regexProperty, regex);
                break;
            case JsonArray:
                Set(c, listProperty, f.StringList(name));
                break;
            default:
                throw f.Error(name, expected);
        }
    }
}
