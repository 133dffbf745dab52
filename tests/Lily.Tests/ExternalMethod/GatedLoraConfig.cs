using Lily.Serialization;

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

    /// <summary>Rank of the update. Written as <c>r</c>.</summary>
    public int R { get; init; } = 8;

    /// <summary>Numerator of the scaling <c>alpha / r</c>. Written as <c>lora_alpha</c>.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Initial value of every layer's gate g (the update is multiplied by tanh(g)). Written as <c>gate_init</c>.</summary>
    public double GateInit { get; init; }

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <summary>The multiplier applied to <c>B A x</c> before the gate.</summary>
    public double Scaling => LoraAlpha / R;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();    // targets, exclusions, layers, modules to save
        Require(R >= 1, nameof(R), $"must be at least 1 (got {R}).");
        Require(double.IsFinite(LoraAlpha), nameof(LoraAlpha), $"must be finite (got {LoraAlpha}).");
        Require(double.IsFinite(GateInit), nameof(GateInit), $"must be finite (got {GateInit}).");
    }

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new GatedLoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w)
    {
        w.Set("r", R);
        w.Set("lora_alpha", LoraAlpha);
        w.Set("gate_init", GateInit);
    }
}
// end-snippet
