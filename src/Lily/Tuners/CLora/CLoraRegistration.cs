using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Lily.Tuners;

/// <summary>
/// Registers CLoRA's config reader with <see cref="PeftMethods"/> when the library loads. The method
/// registers itself from its own folder so that the registry, and every other shared file, names no method.
/// </summary>
internal static class CLoraRegistration
{
    /// <summary>Runs once, when the library's module loads, before any of its code runs.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "It only adds an entry to the library's own registry; without it a shared file would have to name every method.")]
    internal static void Register() => PeftMethods.RegisterBuiltIn(CLoraConfig.Type, CLoraConfig.Fields.Read, listedAt: 2);
}
