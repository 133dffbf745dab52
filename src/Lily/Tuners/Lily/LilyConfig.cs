using Microsoft.Extensions.Logging;

namespace Lily.Tuners;

/// <summary>
/// Lily: low-rank interconnected adaptation across layers (arXiv 2407.09946). Layers of one target
/// type share their down-projections A (one per block of <see cref="StrideA"/> consecutive layers)
/// and one pool of <see cref="NumB"/> up-projection experts B; each layer routes between the
/// experts with its own router. Defaults are PEFT's <c>LilyConfig</c>'s (listed in docs/config-fields.md).
/// </summary>
public sealed record LilyConfig : PeftConfig
{
    /// <summary>The method's <c>peft_type</c> in <c>adapter_config.json</c>, as PEFT writes it.</summary>
    public const string Type = "LILY";

    /// <summary>Our one field PEFT does not have: the routing mode, written only when it is not PEFT's.</summary>
    internal const string RoutingField = "lily_routing";

    /// <summary>Rank of the shared A and of each expert B. PEFT's <c>r</c>; at least 1.</summary>
    public int R { get; init; } = 32;

    /// <summary>How many consecutive layers of one target type share one A. PEFT's <c>stride_A</c>; at least 1.</summary>
    public int StrideA { get; init; } = 1;

    /// <summary>Number of B experts in each target type's pool. PEFT's <c>num_B</c>; at least 2.</summary>
    public int NumB { get; init; } = 2;

    /// <summary>Plain multiplier of the adapter's output (no alpha / r). PEFT's <c>scaling</c>.</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>
    /// Start B at zero so the adapter starts as a no-op (PEFT's <c>init_weights</c>, default true);
    /// false draws B kaiming-uniform, which is useful only for tests and experiments.
    /// </summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>
    /// How router logits become expert weights. Not part of PEFT's config (PEFT always uses
    /// <see cref="LilyRouting.BatchMean"/>); saved as an extra field that PEFT ignores.
    /// </summary>
    public LilyRouting Routing { get; init; } = LilyRouting.BatchMean;

    /// <summary>
    /// Share A and the expert pool across layers (true, Lily's method and the default). False gives every
    /// layer its own A and pool, as a Lily adapter that PEFT adds after the first (<c>add_adapter</c>,
    /// <c>load_adapter</c>) is: PEFT runs the sharing step only for the adapter <c>get_peft_model</c> creates.
    /// Not part of <c>adapter_config.json</c>: loading sets it to false when the file's copies of a tensor
    /// that sharing would tie differ, which is how such a file is recognised.
    /// </summary>
    public bool ShareAcrossLayers { get; init; } = true;

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        ValidateDisjointTargets();
        Fields.Validate(this);
    }

    /// <inheritdoc />
    public override string? RankKnob => Fields.RankKnob;

    /// <inheritdoc />
    public override IReadOnlyList<string> ShapeKnobs => Fields.ShapeKnobs;

    /// <inheritdoc />
    public override PeftConfig WithKnob(string knob, int value) => Fields.WithKnob(this, knob, value) ?? throw UnknownKnob(knob);

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new LilyBuilder(this);

    /// <inheritdoc />
    internal override PeftConfig? WithoutSharing() => ShareAcrossLayers ? this with { ShareAcrossLayers = false } : null;

    /// <summary>
    /// The routing written is the routing the layers compute (a layer's <see cref="LilyLinear.Routing"/>
    /// can be changed after creation), so the file cannot disagree with the model. Routing other than
    /// PEFT's batch mean is saved as <c>lily_routing</c>, which PEFT ignores: PEFT would route such an
    /// adapter by batch mean and compute different outputs, so that is logged as a warning.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layers route in different ways, or some have frozen routing; one Lily file cannot describe that.</exception>
    public override PeftConfig ForSave(IReadOnlyList<AdapterLinear> layers, ILogger logger)
    {
        var frozen = layers.OfType<LilyLinear>().Count(l => l.FrozenMixture is not null);
        if (frozen > 0)
            throw new InvalidOperationException($"{frozen} Lily layer(s) have frozen routing, which Lily's adapter file cannot hold (it would load routing by the router again). Export the frozen adapter with ExportAsLora, or UnfreezeRouting() before saving.");
        var modes = layers.OfType<LilyLinear>().Select(l => l.Routing).Distinct().ToList();
        if (modes.Count > 1)
            throw new InvalidOperationException($"The Lily layers route in different ways ({string.Join(", ", modes)}); adapter_config.json holds one routing mode. Set every layer's Routing to the same mode before saving.");
        var routing = modes.Count == 1 ? modes[0] : Routing;
        if (routing != LilyRouting.BatchMean)
            logger.LogWarning("Saving a Lily adapter with {Routing} routing: PEFT ignores the '{Field}' field and routes by batch mean, so in Python this adapter computes different outputs. Only this library reproduces it exactly.",
                routing, RoutingField);
        return this with { Routing = routing };
    }

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w) => Fields.Write(this, w);

    /// <summary>
    /// Lily's fields of <c>adapter_config.json</c>, each declared once (the defaults are the properties'
    /// initializers above). <see cref="ShareAcrossLayers"/> is not among them: the file does not hold it.
    /// </summary>
    internal static readonly ConfigFields<LilyConfig> Fields = new ConfigFields<LilyConfig>()
        .Field(c => c.R, "r", r => r >= 1 ? null : $"must be at least 1 (got {r}).", ConfigKnob.Rank)
        .Field(c => c.StrideA, "stride_A", s => s >= 1 ? null : $"must be at least 1 (got {s}).", ConfigKnob.Shape)
        .Field(c => c.NumB, "num_B", n => n >= 2 ? null : $"must be at least 2: a single expert leaves nothing to route (got {n}).", ConfigKnob.Shape)
        .Field(c => c.Scaling, "scaling", s => double.IsFinite(s) ? null : $"must be finite (got {s}).")
        .Field(c => c.InitWeights, "init_weights")
        .Mapped(c => c.Routing, RoutingField, routing => routing.ToString(),
            (f, name, _) => f.String(name) is string text && Enum.TryParse(text, out LilyRouting routing)
                ? routing
                : throw new InvalidDataException($"{f.Source}: {name} '{f.String(name)}' is not one of {string.Join(", ", Enum.GetNames<LilyRouting>())}."),
            routing => Enum.IsDefined(routing) ? null : $"is not a known routing mode ({routing}).",
            omitDefault: true);

    /// <summary>
    /// PEFT groups Lily layers by the last entry, in the iteration order of the Python set PEFT keeps
    /// <c>target_modules</c> in, that the layer's name ends with (plain <c>key.endswith(target)</c>; PEFT's
    /// loop in <c>_share_lily_weights</c> overwrites its match on every hit, although its comment says
    /// "longest"). Our matcher likewise takes the last matching entry (<see cref="AdapterTarget.TargetEntry"/>),
    /// in list order. When one entry ends with another, say <c>"q_proj"</c> and <c>"proj"</c>, a q_proj
    /// layer could join either group, and which one depends on the set's order, so on Python's string-hash
    /// seed: the sharing of A and experts, and so the file's meaning, would differ between runs. Such lists
    /// are refused, and with them refused at most one entry can match, so first and last agree.
    /// </summary>
    private void ValidateDisjointTargets()
    {
        if (TargetModules is not { Count: > 1 } targets) return;
        foreach (var longer in targets)
        {
            foreach (var shorter in targets)
            {
                if (longer == shorter || longer == AllLinear || shorter == AllLinear) continue;
                if (!longer.EndsWith(shorter, StringComparison.Ordinal)) continue;
                throw new ArgumentException(
                    $"TargetModules entries '{longer}' and '{shorter}' overlap: '{longer}' ends with '{shorter}'. "
                    + "PEFT groups Lily layers by which target a layer's name ends with, over a Python set, so which group "
                    + $"a '{longer}' layer joins (and which A and experts it shares) would depend on Python's hash seed, "
                    + "and the adapter file could not round-trip reliably. Use target names where none ends with another, "
                    + "or TargetModulesRegex.",
                    nameof(TargetModules));
            }
        }
    }
}
