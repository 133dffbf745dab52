using System.Text.RegularExpressions;

namespace Lily;

/// <summary>
/// Settings shared by every parameter-efficient fine-tuning method: which modules to adapt,
/// which to train in full, and how adapter weights are typed. A method's config derives from
/// this and adds its own hyper-parameters (see <see cref="LoraConfig"/>, <see cref="LilyConfig"/>).
/// </summary>
/// <remarks>
/// Field meanings follow Hugging Face PEFT so that <c>adapter_config.json</c> files move between
/// Python and .NET unchanged.
/// </remarks>
public abstract record PeftConfig
{
    /// <summary>
    /// Names of the modules to adapt. An entry matches a module whose full path equals it or
    /// ends with <c>"." + entry</c> (PEFT's rule), so <c>"q_proj"</c> matches
    /// <c>blocks.0.attn.q_proj</c>. Set this or <see cref="TargetModulesRegex"/>, not both.
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>
    /// A regular expression that must match a module's full path (PEFT's behaviour when
    /// <c>target_modules</c> is a string). Set this or <see cref="TargetModules"/>, not both.
    /// </summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>
    /// Modules (matched by the same rule as <see cref="TargetModules"/>) that are trained in full
    /// and saved with the adapter, typically a new classification head. PEFT's <c>modules_to_save</c>.
    /// </summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>Modules never adapted: exact path or <c>.suffix</c> match. PEFT's <c>exclude_modules</c> (a list).</summary>
    public IReadOnlyList<string>? ExcludeModules { get; init; }

    /// <summary>Modules never adapted: a regex over the full path. PEFT's <c>exclude_modules</c> (a string).</summary>
    public string? ExcludeModulesRegex { get; init; }

    /// <summary>Layer indices to adapt. PEFT's <c>layers_to_transform</c>.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>Names of the module lists whose index selects the layer. PEFT's <c>layers_pattern</c>.</summary>
    public IReadOnlyList<string>? LayersPattern { get; init; }

    /// <summary>Adapters are frozen (loaded for inference). PEFT's <c>inference_mode</c>.</summary>
    public bool InferenceMode { get; init; }

    /// <summary>
    /// When the base layer is float16 or bfloat16, create the adapter in float32 (PEFT's
    /// <c>autocast_adapter_dtype</c>, on by default): low-rank factors trained in half precision
    /// lose most of their updates to rounding.
    /// </summary>
    public bool AutocastAdapterDtype { get; init; } = true;

    /// <summary>The method's name as PEFT writes it in <c>peft_type</c>, e.g. <c>"LORA"</c>.</summary>
    public abstract string PeftType { get; }

    /// <summary>
    /// Checks every field and throws <see cref="ArgumentException"/> naming the first invalid one.
    /// Called by <see cref="PeftModel.Create{TModel}"/> before the model is touched.
    /// </summary>
    public virtual void Validate()
    {
        bool hasList = TargetModules is { Count: > 0 };
        bool hasRegex = !string.IsNullOrEmpty(TargetModulesRegex);
        if (hasList == hasRegex)
        {
            throw new ArgumentException(
                hasList
                    ? "Set either TargetModules or TargetModulesRegex, not both."
                    : "No target modules: set TargetModules (e.g. [\"q_proj\", \"v_proj\"]) or TargetModulesRegex.",
                nameof(TargetModules));
        }
        if (hasList && TargetModules!.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("TargetModules contains an empty name.", nameof(TargetModules));
        if (hasRegex)
        {
            try
            {
                _ = new Regex(TargetModulesRegex!);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"TargetModulesRegex is not a valid regular expression: {e.Message}", nameof(TargetModulesRegex), e);
            }
        }
        if (ModulesToSave is not null && ModulesToSave.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("ModulesToSave contains an empty name.", nameof(ModulesToSave));
    }

    /// <summary>
    /// Creates the object that turns each matched Linear layer into this method's adapter layer.
    /// One builder serves one injection, so it can hold state shared across layers.
    /// </summary>
    public abstract AdapterBuilder CreateBuilder();

    /// <summary>
    /// The config to write for an adapter whose layers are <paramref name="layers"/>. A method whose
    /// layers carry settings that can change after creation derives them from the layers here, so the
    /// file always describes what the layers compute. The default returns the config unchanged.
    /// </summary>
    public virtual PeftConfig ForSave(IReadOnlyList<AdapterLinear> layers, Microsoft.Extensions.Logging.ILogger logger) => this;

    /// <summary>Throws an <see cref="ArgumentException"/> for <paramref name="field"/> unless <paramref name="ok"/>.</summary>
    protected static void Require(bool ok, string field, string problem)
    {
        if (!ok) throw new ArgumentException($"{field} {problem}", field);
    }
}
