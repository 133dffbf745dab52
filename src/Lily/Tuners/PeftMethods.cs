namespace Lily.Tuners;

/// <summary>
/// The fine-tuning methods whose <c>adapter_config.json</c> this library can read, by PEFT's
/// <c>peft_type</c>. The built-in methods (LoRA, Lily, CLoRA) register themselves when the library loads,
/// each from its own folder, so this registry names none of them; a method defined elsewhere
/// registers a reader for its own fields once, before its first file is loaded.
/// </summary>
/// <remarks>
/// A method is a folder: its config (deriving from <see cref="PeftConfig"/>, its fields declared once in a
/// <see cref="ConfigFields{TConfig}"/> table that writes them in <see cref="PeftConfig.WriteFields"/> and
/// validates them), its layer and builder, and the table's reader registered here.
/// The shared fields (targets, exclusions, layers, modules to save, inference mode) are read by
/// the file format (<c>Serialization/AdapterConfigFile</c>) itself and applied to what the method's reader returns.
/// </remarks>
public static class PeftMethods
{
    private static readonly Dictionary<string, Func<ConfigFieldReader, PeftConfig>> Readers = new(StringComparer.Ordinal);
    private static readonly SortedList<int, string> BuiltInByPlace = [];

    /// <summary>The methods built into the library, in the order messages list them.</summary>
    internal static IReadOnlyList<string> BuiltIn
    {
        get
        {
            lock (Readers) return BuiltInByPlace.Values.ToList();
        }
    }

    /// <summary>
    /// Registers a method of this library; called by each method folder's module initializer (for
    /// example <c>Tuners/Lora/LoraRegistration.cs</c>), before any code of the library runs.
    /// </summary>
    /// <param name="peftType">The method's <c>peft_type</c>.</param>
    /// <param name="read">Its config reader.</param>
    /// <param name="listedAt">Its place when messages list the built-in methods (LoRA first, as PEFT lists it).</param>
    internal static void RegisterBuiltIn(string peftType, Func<ConfigFieldReader, PeftConfig> read, int listedAt)
    {
        Register(peftType, read);
        lock (Readers) BuiltInByPlace.Add(listedAt, peftType);
    }

    /// <summary>
    /// Registers how to read the method named <paramref name="peftType"/> from a file. The reader
    /// reads only the method's own fields (with the getters of <see cref="ConfigFieldReader"/>) and
    /// returns its config with the shared fields left at their defaults. Registering the same reader
    /// again does nothing.
    /// </summary>
    /// <param name="peftType">PEFT's <c>peft_type</c>, exactly as in the file (e.g. <c>"GATED_LORA"</c>); must equal the config's <see cref="PeftConfig.PeftType"/>.</param>
    /// <param name="read">Builds the config from the file's fields.</param>
    /// <exception cref="ArgumentException">A different reader is already registered for <paramref name="peftType"/>.</exception>
    public static void Register(string peftType, Func<ConfigFieldReader, PeftConfig> read)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(peftType);
        ArgumentNullException.ThrowIfNull(read);
        lock (Readers)
        {
            if (Readers.TryGetValue(peftType, out var existing))
            {
                if (existing.Equals(read)) return;
                throw new ArgumentException($"peft_type '{peftType}' is already registered with another reader.", nameof(peftType));
            }
            Readers.Add(peftType, read);
        }
    }

    /// <summary>Finds the reader registered for <paramref name="peftType"/>.</summary>
    /// <returns>False when no method of that name is registered.</returns>
    public static bool TryGetReader(string peftType, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Func<ConfigFieldReader, PeftConfig>? read)
    {
        lock (Readers) return Readers.TryGetValue(peftType, out read);
    }

    /// <summary>Every registered <c>peft_type</c>, sorted.</summary>
    public static IReadOnlyList<string> RegisteredTypes
    {
        get
        {
            lock (Readers) return Readers.Keys.Order(StringComparer.Ordinal).ToList();
        }
    }
}
