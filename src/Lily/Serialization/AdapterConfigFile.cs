using System.Text.Json.Nodes;
using System.Text.Json;
using Lily.Tuners;
using Microsoft.Extensions.Logging;

namespace Lily.Serialization;

/// <summary>
/// Reads and writes <c>adapter_config.json</c> with Hugging Face PEFT's field names and values,
/// so a config written here loads in PEFT and one written by PEFT loads here. The fields every
/// method shares are declared in <see cref="SharedConfigFields"/>; a method's own fields are written by its
/// <see cref="PeftConfig.WriteFields"/> and read by the reader registered in <see cref="PeftMethods"/>
/// (both from the method's <see cref="ConfigFields{TConfig}"/> table).
/// </summary>
public static class AdapterConfigFile
{
    /// <summary>The file name PEFT uses.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>Serialises <paramref name="config"/> as PEFT writes it (sorted keys, two-space indent).</summary>
    public static string ToJson(PeftConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var w = new ConfigFieldWriter();
        w.Set("peft_type", config.PeftType);
        SharedConfigFields.Write(config, w);
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

        var config = SharedConfigFields.Apply(f, readMethod(f));
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
