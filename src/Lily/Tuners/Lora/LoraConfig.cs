using System.Text.Json.Nodes;
using Lily.Serialization;

namespace Lily;

/// <summary>
/// How LoRA's factors start. Except for <see cref="Random"/>, <c>B = 0</c>, so the adapter starts as a no-op.
/// </summary>
public enum LoraInit
{
    /// <summary>A is kaiming-uniform with a = √5 (as <c>nn.Linear</c>), PEFT's default (<c>init_lora_weights=True</c>).</summary>
    KaimingUniform,

    /// <summary>A is normal with standard deviation 1/r (PEFT's <c>init_lora_weights="gaussian"</c>).</summary>
    Gaussian,

    /// <summary>
    /// A and B both keep <c>nn.Linear</c>'s default kaiming-uniform init (a = √5), PEFT's
    /// <c>init_lora_weights=False</c>. B is not zero, so the adapter is NOT a no-op at the start:
    /// the adapted model differs from the base model before any training. Meant for tests and experiments.
    /// </summary>
    Random,
}

/// <summary>
/// Low-rank adaptation (LoRA, Hu et al. 2021): every adapted layer <c>y = W x + b</c> gains
/// <c>scaling · B A x</c> with its own A <c>[r, d_in]</c> and B <c>[d_out, r]</c>.
/// Defaults are PEFT's: r = 8, alpha = 8, dropout = 0.
/// </summary>
public sealed record LoraConfig : PeftConfig
{
    /// <summary>Rank of the update. PEFT's <c>r</c>; must be at least 1.</summary>
    public int R { get; init; } = 8;

    /// <summary>Numerator of the scaling <c>alpha / r</c> (or <c>alpha / √r</c>). PEFT's <c>lora_alpha</c>.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout applied to the adapter's input while training, in [0, 1). PEFT's <c>lora_dropout</c>.</summary>
    public double LoraDropout { get; init; }

    /// <summary>Scale by <c>alpha / √r</c> instead of <c>alpha / r</c> (rank-stabilised LoRA). PEFT's <c>use_rslora</c>.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>
    /// Initialisation of the factors. PEFT's <c>init_lora_weights</c>: <c>true</c> is
    /// <see cref="LoraInit.KaimingUniform"/>, <c>"gaussian"</c> is <see cref="LoraInit.Gaussian"/>,
    /// <c>false</c> is <see cref="LoraInit.Random"/>.
    /// </summary>
    public LoraInit InitLoraWeights { get; init; } = LoraInit.KaimingUniform;

    /// <inheritdoc />
    public override string PeftType => "LORA";

    /// <summary>The multiplier applied to <c>B A x</c>.</summary>
    public double Scaling => UseRsLora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Require(R >= 1, nameof(R), $"must be at least 1 (got {R}).");
        Require(double.IsFinite(LoraAlpha), nameof(LoraAlpha), $"must be finite (got {LoraAlpha}).");
        Require(LoraDropout >= 0 && LoraDropout < 1, nameof(LoraDropout), $"must be in [0, 1) (got {LoraDropout}).");
        Require(Enum.IsDefined(InitLoraWeights), nameof(InitLoraWeights), $"is not a known initialisation ({InitLoraWeights}).");
    }

    /// <inheritdoc />
    public override string? RankKnob => "r";

    /// <inheritdoc />
    public override PeftConfig WithKnob(string knob, int value) => knob == "r" ? this with { R = value } : throw UnknownKnob(knob);

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new LoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w)
    {
        w.Set("r", R);
        w.Set("lora_alpha", LoraAlpha);
        w.Set("lora_dropout", LoraDropout);
        w.Set("use_rslora", UseRsLora);
        w.Set("init_lora_weights", InitLoraWeights switch
        {
            LoraInit.Gaussian => "gaussian",
            LoraInit.Random => false,
            _ => true,
        });
        // PEFT's defaults for the options this library does not implement, so PEFT reads the file as written.
        w.Set("bias", "none");
        w.Set("fan_in_fan_out", false);
        w.Set("use_dora", false);
        w.Set("lora_bias", false);
        w.Set("rank_pattern", new JsonObject());
        w.Set("alpha_pattern", new JsonObject());
        w.Set("layer_replication", null);
    }
}
