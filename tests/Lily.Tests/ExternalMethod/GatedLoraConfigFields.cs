using Lily.Serialization;

namespace Lily.Tests.ExternalMethod;

/// <summary>Reads gated LoRA's own fields of <c>adapter_config.json</c>, and registers that reader.</summary>
// begin-snippet: gated-fields
public static class GatedLoraConfigFields
{
    /// <summary>
    /// Makes <c>"peft_type": "GATED_LORA"</c> files loadable. Call once before the first load;
    /// calling again does nothing.
    /// </summary>
    public static void Register() => PeftMethods.Register(GatedLoraConfig.Type, Read);

    /// <summary>
    /// Builds the config from the method's own fields; absent fields take the defaults. The shared
    /// fields (target_modules, exclude_modules, ...) are read and applied by the library.
    /// </summary>
    public static PeftConfig Read(ConfigFieldReader f) => new GatedLoraConfig
    {
        R = f.Int("r") ?? 8,
        LoraAlpha = f.Double("lora_alpha") ?? 8,
        GateInit = f.Double("gate_init") ?? 0,
    };
}
// end-snippet
