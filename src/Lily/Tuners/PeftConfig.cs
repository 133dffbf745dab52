using Lily.Matching;
using Lily.Planning;
using Lily.Serialization;

namespace Lily.Tuners;

/// <summary>
/// Settings shared by every parameter-efficient fine-tuning method: which modules to adapt,
/// which to leave out or train in full, and how adapter weights are typed. A method's config
/// derives from this and adds its own hyper-parameters (see <see cref="LoraConfig"/>, <see cref="LilyConfig"/>).
/// </summary>
/// <remarks>
/// Field meanings follow Hugging Face PEFT so that <c>adapter_config.json</c> files move between
/// Python and .NET unchanged. A method declares each of its own fields once in a
/// <see cref="ConfigFields{TConfig}"/> table, which writes them (<see cref="WriteFields"/>), validates them
/// and provides the reader the method registers with <see cref="PeftMethods.Register"/>.
/// </remarks>
public abstract record PeftConfig
{
    /// <summary>
    /// PEFT's special <c>target_modules</c> value: every Linear layer except the output layer.
    /// Use it as the single entry of <see cref="TargetModules"/>; the file stores it as the string
    /// <c>"all-linear"</c>, as PEFT does.
    /// </summary>
    public const string AllLinear = "all-linear";

    /// <summary>
    /// Names of the modules to adapt. An entry matches a module whose full path equals it or
    /// ends with <c>"." + entry</c> (PEFT's rule), so <c>"q_proj"</c> matches
    /// <c>blocks.0.attn.q_proj</c>. The single entry <see cref="AllLinear"/> selects every Linear
    /// layer but the output layer. Set this or <see cref="TargetModulesRegex"/>, not both.
    /// PEFT's <c>target_modules</c> as a list (or the string <c>"all-linear"</c>).
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>
    /// A regular expression that must match a module's full path (PEFT's behaviour when
    /// <c>target_modules</c> is a string). Set this or <see cref="TargetModules"/>, not both.
    /// </summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>
    /// Modules not to adapt even though they are targeted, matched by the same rule as
    /// <see cref="TargetModules"/> (path equals an entry or ends with <c>"." + entry</c>).
    /// PEFT's <c>exclude_modules</c> as a list. Set this or <see cref="ExcludeModulesRegex"/>, not both.
    /// </summary>
    public IReadOnlyList<string>? ExcludeModules { get; init; }

    /// <summary>
    /// A regular expression that must match a module's full path for it to be left out.
    /// PEFT's <c>exclude_modules</c> as a string. Set this or <see cref="ExcludeModules"/>, not both.
    /// </summary>
    public string? ExcludeModulesRegex { get; init; }

    /// <summary>
    /// Adapt only the layers at these indexes of the model's layer list (the number that follows
    /// the <see cref="LayersPattern"/> segment in a path, e.g. <c>2</c> in <c>model.layers.2.q_proj</c>);
    /// null adapts every layer. PEFT's <c>layers_to_transform</c> (an int in the file reads as one entry).
    /// </summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>
    /// Names of the layer-list module whose index <see cref="LayersToTransform"/> selects, e.g.
    /// <c>"layers"</c> or <c>"h"</c>; null (or empty) lets PEFT's common names be tried. Requires
    /// <see cref="LayersToTransform"/>. PEFT's <c>layers_pattern</c> (a string in the file reads as one entry).
    /// </summary>
    public IReadOnlyList<string>? LayersPattern { get; init; }

    /// <summary>
    /// Modules (matched by the same rule as <see cref="TargetModules"/>) that are trained in full
    /// and saved with the adapter, typically a new classification head. PEFT's <c>modules_to_save</c>.
    /// </summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>
    /// PEFT's <c>inference_mode</c>: the adapter is meant for inference, not training. Stored and
    /// written as it is (default false); PEFT itself writes true on save and decides from its
    /// <c>is_trainable</c> argument on load.
    /// </summary>
    public bool InferenceMode { get; init; }

    /// <summary>
    /// When the base layer is float16 or bfloat16, create the adapter in float32 (PEFT's
    /// <c>autocast_adapter_dtype</c>, on by default): low-rank factors trained in half precision
    /// lose most of their updates to rounding.
    /// </summary>
    public bool AutocastAdapterDtype { get; init; } = true;

    /// <summary>The method's name as PEFT writes it in <c>peft_type</c>, e.g. <see cref="LoraConfig.Type"/>; each method keeps it as a public constant <c>Type</c>.</summary>
    public abstract string PeftType { get; }

    /// <summary>
    /// Checks every field and throws <see cref="ArgumentException"/> naming the first invalid one.
    /// Called by <see cref="PeftModel.Create{TModel}"/> before the model is touched.
    /// </summary>
    public virtual void Validate()
    {
        ValidateTargets();
        ValidateNames(ExcludeModules, nameof(ExcludeModules));
        if (ExcludeModulesRegex is not null)
        {
            Require(ExcludeModules is null, nameof(ExcludeModules), "and ExcludeModulesRegex are both set; set one of them.");
            Require(ExcludeModulesRegex.Length > 0, nameof(ExcludeModulesRegex), "is empty; use null to exclude nothing.");
            _ = PathPattern.CompileFullMatch(ExcludeModulesRegex, nameof(ExcludeModulesRegex));
        }
        ValidateLayers();
        ValidateNames(ModulesToSave, nameof(ModulesToSave));
    }

    /// <summary>
    /// The method's rank-like setting, by its name in the file (e.g. <c>"r"</c>): an integer every
    /// adapter tensor grows with, so the trainable count grows with it. <see cref="BudgetMatcher"/>
    /// searches it. Null (the default) for a method without one.
    /// </summary>
    public virtual string? RankKnob => null;

    /// <summary>
    /// The method's other integer settings that size the adapter, by file name (Lily's
    /// <c>stride_A</c> and <c>num_B</c>), for which <see cref="BudgetMatcher"/> can try candidates.
    /// Empty by default.
    /// </summary>
    public virtual IReadOnlyList<string> ShapeKnobs => [];

    /// <summary>A copy of this config with the size setting <paramref name="knob"/> (<see cref="RankKnob"/> or one of <see cref="ShapeKnobs"/>) set to <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentException">The method has no such setting.</exception>
    public virtual PeftConfig WithKnob(string knob, int value) => throw UnknownKnob(knob);

    /// <summary>The error for a size setting this method does not have.</summary>
    protected ArgumentException UnknownKnob(string knob) => new(
        $"{PeftType} has no size setting '{knob}' (it has {string.Join(", ", new[] { RankKnob }.OfType<string>().Concat(ShapeKnobs).DefaultIfEmpty("none"))}).", nameof(knob));

    /// <summary>
    /// Creates the object that turns each matched Linear layer into this method's adapter layer.
    /// One builder serves one injection, so it can hold state shared across layers.
    /// </summary>
    public abstract AdapterBuilder CreateBuilder();

    /// <summary>
    /// Writes this method's own fields (everything but the shared ones above and <c>peft_type</c>)
    /// into <c>adapter_config.json</c>, with PEFT's names and values.
    /// </summary>
    /// <param name="w">Collects the fields; keys are sorted when the file is written.</param>
    /// <remarks>
    /// Protected rather than protected internal so that a method defined in another assembly
    /// overrides it as <c>protected override</c> whatever that assembly can see of this one.
    /// </remarks>
    protected abstract void WriteFields(ConfigFieldWriter w);

    /// <summary>Lets <see cref="AdapterConfigFile"/> call <see cref="WriteFields"/>.</summary>
    internal void WriteMethodFields(ConfigFieldWriter w) => WriteFields(w);

    /// <summary>
    /// The config to write for an adapter whose layers are <paramref name="layers"/>. A method whose
    /// layers carry settings that can change after creation derives them from the layers here, so the
    /// file always describes what the layers compute. The default returns the config unchanged.
    /// </summary>
    public virtual PeftConfig ForSave(IReadOnlyList<AdapterLinear> layers, Microsoft.Extensions.Logging.ILogger logger) => this;

    /// <summary>
    /// This adapter with nothing shared across layers, for a file whose copies of a shared tensor differ
    /// (PEFT writes such files for a Lily adapter added after the first); null when the method shares nothing,
    /// so differing copies stay an error.
    /// </summary>
    internal virtual PeftConfig? WithoutSharing() => null;

    /// <summary>Throws an <see cref="ArgumentException"/> for <paramref name="field"/> unless <paramref name="ok"/>.</summary>
    protected static void Require(bool ok, string field, string problem)
    {
        if (!ok) throw new ArgumentException($"{field} {problem}", field);
    }

    private void ValidateTargets()
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
        if (hasList)
        {
            ValidateNames(TargetModules, nameof(TargetModules));
            Require(!TargetModules!.Contains(AllLinear) || TargetModules!.Count == 1, nameof(TargetModules),
                $"contains \"{AllLinear}\" with other names; \"{AllLinear}\" already selects every Linear layer, so it must be the only entry.");
        }
        else
        {
            // The file stores both as a string, so "all-linear" as a regex would read back as the special value.
            Require(!string.Equals(TargetModulesRegex, AllLinear, StringComparison.OrdinalIgnoreCase), nameof(TargetModulesRegex),
                $"is \"{AllLinear}\", PEFT's special value: set TargetModules = [PeftConfig.AllLinear] instead.");
            _ = PathPattern.CompileFullMatch(TargetModulesRegex!, nameof(TargetModulesRegex));
        }
    }

    private void ValidateLayers()
    {
        if (LayersToTransform is not null)
        {
            Require(LayersToTransform.Count > 0, nameof(LayersToTransform), "is empty, so no layer would be adapted; use null to adapt every layer.");
            Require(LayersToTransform.All(i => i >= 0), nameof(LayersToTransform), $"contains a negative index ({string.Join(", ", LayersToTransform)}).");
        }
        if (LayersPattern is not null)
        {
            // PEFT: "When `layers_pattern` is specified, `layers_to_transform` must also be specified."
            Require(LayersToTransform is not null, nameof(LayersPattern), "is set without LayersToTransform; PEFT requires both (the pattern only says where the layer index is).");
            ValidateNames(LayersPattern, nameof(LayersPattern));
            // Each entry is a regular expression inside the one PEFT builds (see TargetSelector): checked now.
            foreach (var pattern in LayersPattern) _ = PathPattern.CompileEmbedded(pattern, nameof(LayersPattern), part => part);
        }
        if (!string.IsNullOrEmpty(TargetModulesRegex))
        {
            // PEFT: "`layers_to_transform` cannot be used when `target_modules` is a str."
            Require(LayersToTransform is null, nameof(LayersToTransform), "cannot be used with TargetModulesRegex (as in PEFT); put the layer indexes in the regular expression.");
        }
    }

    private static void ValidateNames(IReadOnlyList<string>? names, string field)
    {
        if (names is not null && names.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException($"{field} contains an empty name.", field);
    }
}
