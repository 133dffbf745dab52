using Lily.Tuners;

namespace Lily.Tests.ExternalMethod;

/// <summary>
/// Gated LoRA, a PEFT method defined outside the library (only Lily's public API is used): every
/// adapted layer <c>y = W x + b</c> gains <c>tanh(g) · scaling · B A x</c>, with its own A
/// <c>[r, d_in]</c>, B <c>[d_out, r]</c> and a trainable scalar gate g. The gate starts at
/// <see cref="GateInit"/>; at 0 the adapter is a no-op although B is random, so A, B and g can all
/// start from values that give gradients.
/// </summary>
// begin-snippet: gated-config
public sealed record GatedLoraConfig : PeftConfig
{
    /// <summary>The method's <c>peft_type</c>, as written in <c>adapter_config.json</c>.</summary>
    public const string Type = "GATED_LORA";

    /// <summary>Rank of the update; at least 1.</summary>
    public int R { get; init; } = 8;

    /// <summary>Numerator of the scaling <c>alpha / r</c>; finite.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Initial value of every layer's gate g (the update is multiplied by tanh(g)); finite.</summary>
    public double GateInit { get; init; }

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>The multiplier applied to <c>B A x</c> before the gate.</summary>
    public double Scaling => LoraAlpha / R;

    /// <summary>
    /// The method's fields of <c>adapter_config.json</c>, each declared once: its name in the file, the
    /// property that holds it (whose initializer above is the default) and its check. Writing, reading and
    /// validating all follow from this table.
    /// </summary>
    public static readonly ConfigFields<GatedLoraConfig> Fields = new ConfigFields<GatedLoraConfig>()
        .Field(c => c.R, "r", r => r >= 1 ? null : $"must be at least 1 (got {r}).")
        .Field(c => c.LoraAlpha, "lora_alpha", a => double.IsFinite(a) ? null : $"must be finite (got {a}).")
        .Field(c => c.GateInit, "gate_init", g => double.IsFinite(g) ? null : $"must be finite (got {g}).");

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();    // targets, exclusions, layers, modules to save
        Fields.Validate(this);
    }

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new GatedLoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w) => Fields.Write(this, w);
}
// end-snippet
