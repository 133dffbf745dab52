using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lily.Serialization;

/// <summary>
/// Reads and writes <c>adapter_config.json</c> with Hugging Face PEFT's field names and values,
/// so a config written here loads in PEFT and one written by PEFT loads here.
/// </summary>
public static class AdapterConfigFile
{
    /// <summary>The file name PEFT uses.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>Our one field PEFT does not have: Lily's routing mode, written only when it is not PEFT's.</summary>
    internal const string RoutingField = "lily_routing";

    /// <summary>Serialises <paramref name="config"/> as PEFT writes it (sorted keys, two-space indent).</summary>
    public static string ToJson(PeftConfig config)
    {
        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = null,
            ["exclude_modules"] = null,
            ["inference_mode"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["modules_to_save"] = config.ModulesToSave is { Count: > 0 } save ? new JsonArray(save.Select(s => (JsonNode?)s).ToArray()) : null,
            ["peft_type"] = config.PeftType,
            ["revision"] = null,
            ["target_modules"] = config.TargetModulesRegex is { Length: > 0 } regex
                ? JsonValue.Create(regex)
                : new JsonArray(config.TargetModules!.Select(t => (JsonNode?)t).ToArray()),
            ["task_type"] = null,
        };
        switch (config)
        {
            case LoraConfig lora:
                fields["r"] = lora.R;
                fields["lora_alpha"] = lora.LoraAlpha;
                fields["lora_dropout"] = lora.LoraDropout;
                fields["use_rslora"] = lora.UseRsLora;
                fields["init_lora_weights"] = lora.InitLoraWeights == LoraInit.Gaussian ? JsonValue.Create("gaussian") : JsonValue.Create(true);
                fields["bias"] = "none";
                fields["fan_in_fan_out"] = false;
                fields["use_dora"] = false;
                fields["lora_bias"] = false;
                fields["rank_pattern"] = new JsonObject();
                fields["alpha_pattern"] = new JsonObject();
                fields["layer_replication"] = null;
                break;
            case LilyConfig lily:
                fields["r"] = lily.R;
                fields["stride_A"] = lily.StrideA;
                fields["num_B"] = lily.NumB;
                fields["scaling"] = lily.Scaling;
                fields["init_weights"] = lily.InitWeights;
                if (lily.Routing != LilyRouting.BatchMean) fields[RoutingField] = lily.Routing.ToString();
                break;
            default:
                throw new NotSupportedException($"No adapter_config.json mapping for {config.GetType().Name}.");
        }
        var json = new JsonObject(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));
        // Relaxed escaping: a regex such as "q_proj+" stays readable instead of becoming "q_proj\u002B".
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>Reads a config written by PEFT or by <see cref="ToJson"/>, and validates it.</summary>
    /// <param name="json">The file's text.</param>
    /// <param name="source">The file's name, for messages.</param>
    /// <exception cref="InvalidDataException">The text is not a config we can read; the message says which field.</exception>
    public static PeftConfig FromJson(string json, string source = FileName)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException($"{source}: the top level is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message}).", e);
        }
        var reader = new FieldReader(root, source);
        string peftType = reader.String("peft_type") ?? throw new InvalidDataException($"{source}: 'peft_type' is missing.");

        PeftConfig config = peftType switch
        {
            "LORA" => ReadLora(reader),
            "LILY" => ReadLily(reader),
            _ => throw new InvalidDataException($"{source}: peft_type '{peftType}' is not supported here (LORA and LILY are)."),
        };
        var targets = root["target_modules"];
        config = targets switch
        {
            JsonValue v when v.TryGetValue<string>(out var regex) => config with { TargetModulesRegex = regex },
            JsonArray list => config with { TargetModules = reader.StringList("target_modules") },
            _ => throw new InvalidDataException($"{source}: 'target_modules' must be a list of names or a regular expression."),
        };
        config = config with { ModulesToSave = reader.StringList("modules_to_save") };
        reader.RejectSet("exclude_modules", "layers_to_transform", "layers_pattern");
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

    private static LoraConfig ReadLora(FieldReader f)
    {
        if (f.String("bias") is string bias && bias != "none")
            throw new InvalidDataException($"{f.Source}: bias '{bias}' is not supported (only \"none\").");
        f.RejectTrue("fan_in_fan_out", "use_dora", "lora_bias", "use_qalora");
        f.RejectNonEmpty("rank_pattern", "alpha_pattern", "layer_replication", "target_parameters", "trainable_token_indices");
        var init = f.Node("init_lora_weights") switch
        {
            null => LoraInit.KaimingUniform,
            JsonValue v when v.TryGetValue<bool>(out _) => LoraInit.KaimingUniform,
            JsonValue v when v.TryGetValue<string>(out var s) && s == "gaussian" => LoraInit.Gaussian,
            var other => throw new InvalidDataException($"{f.Source}: init_lora_weights {other!.ToJsonString()} is not supported (true, false or \"gaussian\")."),
        };
        return new LoraConfig
        {
            R = f.Int("r") ?? 8,
            LoraAlpha = f.Double("lora_alpha") ?? 8,
            LoraDropout = f.Double("lora_dropout") ?? 0,
            UseRsLora = f.Bool("use_rslora") ?? false,
            InitLoraWeights = init,
        };
    }

    private static LilyConfig ReadLily(FieldReader f)
    {
        var routing = LilyRouting.BatchMean;
        if (f.String(RoutingField) is string text && !Enum.TryParse(text, out routing))
            throw new InvalidDataException($"{f.Source}: {RoutingField} '{text}' is not one of {string.Join(", ", Enum.GetNames<LilyRouting>())}.");
        return new LilyConfig
        {
            R = f.Int("r") ?? 32,
            StrideA = f.Int("stride_A") ?? 1,
            NumB = f.Int("num_B") ?? 2,
            Scaling = f.Double("scaling") ?? 1.0,
            InitWeights = f.Bool("init_weights") ?? true,
            Routing = routing,
        };
    }

    /// <summary>Typed access to optional fields, with errors that name the field and the file.</summary>
    private sealed class FieldReader(JsonObject root, string source)
    {
        public string Source => source;

        public JsonNode? Node(string name) => root.TryGetPropertyValue(name, out var node) ? node : null;

        public string? String(string name)
        {
            var node = Node(name);
            if (node is null) return null;
            if (node is JsonValue value && value.TryGetValue(out string? result)) return result;
            throw new InvalidDataException($"{source}: '{name}' must be a string (got {node.ToJsonString()}).");
        }

        public bool? Bool(string name) => Get<bool>(name, "true or false");

        public int? Int(string name)
        {
            double? d = Double(name);
            if (d is null) return null;
            if (d != Math.Floor(d.Value) || d < int.MinValue || d > int.MaxValue)
                throw new InvalidDataException($"{source}: '{name}' must be a whole number (got {d.Value.ToString(CultureInfo.InvariantCulture)}).");
            return (int)d.Value;
        }

        public double? Double(string name) => Get<double>(name, "a number");

        public IReadOnlyList<string>? StringList(string name)
        {
            var node = Node(name);
            if (node is null) return null;
            if (node is not JsonArray list || list.Any(n => n is not JsonValue v || !v.TryGetValue<string>(out _)))
                throw new InvalidDataException($"{source}: '{name}' must be a list of strings.");
            return list.Select(n => n!.GetValue<string>()).ToList();
        }

        public void RejectTrue(params string[] names)
        {
            foreach (var name in names)
            {
                if (Bool(name) == true) throw new InvalidDataException($"{source}: '{name}' is true, which this library does not support.");
            }
        }

        public void RejectNonEmpty(params string[] names)
        {
            foreach (var name in names)
            {
                var node = Node(name);
                bool empty = node is null || node is JsonObject { Count: 0 } || node is JsonArray { Count: 0 };
                if (!empty) throw new InvalidDataException($"{source}: '{name}' is set ({node!.ToJsonString()}), which this library does not support.");
            }
        }

        public void RejectSet(params string[] names)
        {
            foreach (var name in names)
            {
                if (Node(name) is not null) throw new InvalidDataException($"{source}: '{name}' is set ({Node(name)!.ToJsonString()}), which this library does not support yet.");
            }
        }

        private T? Get<T>(string name, string expected) where T : struct
        {
            var node = Node(name);
            if (node is null) return null;
            if (node is JsonValue value && value.TryGetValue(out T result)) return result;
            throw new InvalidDataException($"{source}: '{name}' must be {expected} (got {node.ToJsonString()}).");
        }
    }
}
