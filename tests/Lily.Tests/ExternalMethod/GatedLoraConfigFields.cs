using Lily.Tuners;

namespace Lily.Tests.ExternalMethod;

/// <summary>Registers gated LoRA's reader, the one its field table (<see cref="GatedLoraConfig.Fields"/>) provides.</summary>
// begin-snippet: gated-fields
public static class GatedLoraConfigFields
{
    /// <summary>
    /// Makes <c>"peft_type": "GATED_LORA"</c> files loadable. Call once before the first load;
    /// calling again does nothing.
    /// </summary>
    public static void Register() => PeftMethods.Register(GatedLoraConfig.Type, Read);

    /// <summary>
    /// Builds the config from the method's own fields, as declared in <see cref="GatedLoraConfig.Fields"/>;
    /// absent fields keep the properties' defaults. The shared fields (target_modules, exclude_modules, ...)
    /// are read and applied by the library.
    /// </summary>
    public static PeftConfig Read(ConfigFieldReader f) => GatedLoraConfig.Fields.Read(f);
}
// end-snippet
