using Lily.Tuners;

namespace Lily.Tests.ExternalMethod;

/// <summary>Registers routed LoRA's reader, the one its field table (<see cref="RoutedLoraConfig.Fields"/>) provides.</summary>
public static class RoutedLoraRegistration
{
    /// <summary>Makes <c>"peft_type": "ROUTED_LORA"</c> files loadable. Call once before the first load; calling again does nothing.</summary>
    public static void Register() => PeftMethods.Register(RoutedLoraConfig.Type, RoutedLoraConfig.Fields.Read);
}
