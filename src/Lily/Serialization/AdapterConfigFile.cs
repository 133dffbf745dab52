using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Lily.Serialization;

/// <summary>
/// Reads and writes <c>adapter_config.json</c> with Hugging Face PEFT's field names and values,
/// so a config written here loads in PEFT and one written by PEFT loads here. The fields every
/// method shares are handled here; a method's own fields are written by its
/// <see cref="PeftConfig.WriteFields"/> and read by the reader registered in <see cref="PeftMethods"/>.
/// </summary>
public static class AdapterConfigFile
{
    /// <summary>The file name PEFT uses.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>Shared PEFT fields that describe where the adapter came from; they do not change what it computes.</summary>
    private static readonly string[] IgnoredSharedFields = ["auto_mapping", "base_model_name_or_path", "revision", "task_type", "peft_version"];

    /// <summary>Serialises <paramref name="config"/> as PEFT writes it (sorted keys, two-space indent).</summary>
    public static string ToJson(PeftConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var w = new ConfigFieldWriter();
        w.Set("auto_mapping", null);
        w.Set("base_model_name_or_path", null);
        w.Set("exclude_modules", config.ExcludeModulesRegex is not null
            ? JsonValue.Create(config.ExcludeModulesRegex)
            : Strings(config.ExcludeModules));
        w.Set("inference_mode", config.InferenceMode);
        w.Set("layers_pattern", config.LayersPattern is { Count: 1 } one ? JsonValue.Create(one[0]) : Strings(config.LayersPattern));
        w.Set("layers_to_transform", config.LayersToTransform is null ? null : new JsonArray(config.LayersToTransform.Select(i => (JsonNode?)i).ToArray()));
        w.Set("modules_to_save", config.ModulesToSave is { Count: > 0 } save ? Strings(save) : null);
        w.Set("peft_type", config.PeftType);
        w.Set("revision", null);
        w.Set("target_modules", TargetModulesNode(config));
        w.Set("task_type", null);
        config.WriteMethodFields(w);
        // Relaxed escaping: a regex such as "q_proj+" stays readable instead of becoming "q_proj\u002B".
        return w.ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>Reads a config written by PEFT or by <see cref="ToJson"/>, and validates it.</summary>
    /// <remarks>A key given twice keeps its last value, as in Python (PEFT reads such a file the same way).</remarks>
    /// <param name="json">The file's text.</param>
    /// <param name="source">The file's name, for messages.</param>
    /// <param name="logger">Receives one debug line listing the fields this library does not know (they are ignored).</param>
    /// <exception cref="InvalidDataException">The text is not a config we can read; the message says which field.</exception>
    public static PeftConfig FromJson(string json, string source = FileName, ILogger? logger = null)
    {
        JsonObject root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = ToNode(document.RootElement) as JsonObject ?? throw new InvalidDataException($"{source}: the top level is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message}).", e);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json's error for a string escape that is not valid UTF-16, such as a lone "\ud800".
            throw new InvalidDataException($"{source}: holds text that is not valid Unicode ({e.Message}).", e);
        }
        var f = new ConfigFieldReader(root, source);
        string peftType = f.String("peft_type") ?? throw new InvalidDataException($"{source}: 'peft_type' is missing.");
        if (!PeftMethods.TryGetReader(peftType, out var readMethod))
            throw new InvalidDataException($"{source}: peft_type '{peftType}' is not supported here ({SupportedTypes()}");

        var config = ReadShared(f, readMethod(f));
        f.Ignore(IgnoredSharedFields);
        var unknown = f.UnreadFields();
        if (unknown.Count > 0)
            logger?.LogDebug("{Source}: ignoring fields this library does not know: {Fields}", source, string.Join(", ", unknown));
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        return config;
    }

    /// <summary>
    /// The element as a node, every string decoded now (so invalid text fails here). A key given twice keeps its
    /// last value at the place of its first, as Python's <c>json.load</c> (which PEFT uses) reads it.
    /// </summary>
    private static JsonNode? ToNode(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject()) obj[property.Name] = ToNode(property.Value);
                return obj;
            case JsonValueKind.Array:
                return new JsonArray(element.EnumerateArray().Select(ToNode).ToArray());
            case JsonValueKind.String:
                return JsonValue.Create(element.GetString());
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.True or JsonValueKind.False:
                return JsonValue.Create(element.GetBoolean());
            default:
                return JsonValue.Create(element.Clone());    // a number, kept as written; the clone outlives the document
        }
    }

    private static PeftConfig ReadShared(ConfigFieldReader f, PeftConfig config)
    {
        config = f.Node("target_modules") switch
        {
            JsonValue v when v.TryGetValue(out string? text) && string.Equals(text, PeftConfig.AllLinear, StringComparison.OrdinalIgnoreCase)
                => config with { TargetModules = [PeftConfig.AllLinear] }, // PEFT compares it case-insensitively
            JsonValue v when v.TryGetValue(out string? regex) => config with { TargetModulesRegex = regex },
            JsonArray => config with { TargetModules = f.StringList("target_modules") },
            _ => throw f.Error("target_modules", "must be a list of names or a regular expression"),
        };
        config = f.Node("exclude_modules") switch
        {
            null => config,
            JsonValue v when v.TryGetValue(out string? regex) => config with { ExcludeModulesRegex = regex },
            JsonArray => config with { ExcludeModules = f.StringList("exclude_modules") },
            _ => throw f.Error("exclude_modules", "must be a list of names, a regular expression or null"),
        };
        return config with
        {
            LayersToTransform = f.Node("layers_to_transform") is JsonValue
                ? [f.Int("layers_to_transform")!.Value]
                : f.IntList("layers_to_transform"),
            LayersPattern = f.Node("layers_pattern") is JsonValue
                ? [f.String("layers_pattern")!]
                : f.StringList("layers_pattern"),
            ModulesToSave = f.StringList("modules_to_save"),
            InferenceMode = f.Bool("inference_mode") ?? false,
        };
    }

    private static JsonNode? TargetModulesNode(PeftConfig config)
    {
        if (config.TargetModulesRegex is { Length: > 0 } regex) return JsonValue.Create(regex);
        if (config.TargetModules is [PeftConfig.AllLinear]) return JsonValue.Create(PeftConfig.AllLinear);
        return Strings(config.TargetModules ?? throw new ArgumentException("The config has no target modules.", nameof(config)));
    }

    private static JsonArray? Strings(IEnumerable<string>? values) =>
        values is null ? null : new JsonArray(values.Select(v => (JsonNode?)v).ToArray());

    /// <summary>"LORA, LILY and CLORA are).", then any method registered from outside.</summary>
    private static string SupportedTypes()
    {
        var extra = PeftMethods.RegisteredTypes.Except(PeftMethods.BuiltIn).ToList();
        string builtIn = $"{string.Join(", ", PeftMethods.BuiltIn.SkipLast(1))} and {PeftMethods.BuiltIn[^1]} are).";
        return extra.Count == 0
            ? builtIn + " Other methods can be added with PeftMethods.Register."
            : $"{builtIn} Also registered: {string.Join(", ", extra)}.";
    }
}
