using Lily.Tuners;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// Routed LoRA, a routed PEFT method defined outside the library (only Lily's public API is used): a small
/// mixture of LoRA experts. Every adapted layer has E experts <c>(A_e [r, d_in], B_e [d_out, r])</c> and a
/// router <c>[E, d_in]</c>; with per-token probabilities <c>p = softmax(router · x)</c> and their mean p̄ over
/// the batch, <c>y = W x + b + scaling · Σ_e p̄_e B_e A_e x</c>. It declares <see cref="IRoutedAdapter"/>,
/// so the library's routing tools (calibration, freezing, export, inspection, the data-parallel batch
/// check) work for it without naming it.
/// </summary>
public sealed record RoutedLoraConfig : PeftConfig
{
    /// <summary>The method's <c>peft_type</c>, as written in <c>adapter_config.json</c>.</summary>
    public const string Type = "ROUTED_LORA";

    /// <summary>Rank of each expert. Written as <c>r</c>.</summary>
    public int R { get; init; } = 4;

    /// <summary>Numerator of the scaling <c>alpha / r</c>. Written as <c>lora_alpha</c>.</summary>
    public double LoraAlpha { get; init; } = 4;

    /// <summary>Number of experts E. Written as <c>num_experts</c>.</summary>
    public int Experts { get; init; } = 2;

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>The multiplier of the mixed update.</summary>
    public double Scaling => LoraAlpha / R;

    /// <summary>
    /// The method's fields of <c>adapter_config.json</c>, each declared once (name in the file, property,
    /// check); writing, reading and validating follow from this table.
    /// </summary>
    public static readonly ConfigFields<RoutedLoraConfig> Fields = new ConfigFields<RoutedLoraConfig>()
        .Field(c => c.R, "r", r => r >= 1 ? null : $"must be at least 1 (got {r}).", ConfigKnob.Rank)   // the size BudgetMatcher varies
        .Field(c => c.LoraAlpha, "lora_alpha", a => double.IsFinite(a) ? null : $"must be finite (got {a}).")
        .Field(c => c.Experts, "num_experts", e => e >= 1 ? null : $"must be at least 1 (got {e}).");

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Fields.Validate(this);
    }

    /// <inheritdoc />
    public override string? RankKnob => Fields.RankKnob;

    /// <inheritdoc />
    public override PeftConfig WithKnob(string knob, int value) => Fields.WithKnob(this, knob, value) ?? throw UnknownKnob(knob);

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new RoutedLoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w) => Fields.Write(this, w);
}
