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

    /// <summary>
    /// Per-layer ranks overriding <see cref="R"/>. PEFT's <c>rank_pattern</c>: a key (a regular expression)
    /// applies to a layer whose full path is the key or ends in <c>.key</c>; the first matching key in the
    /// dictionary's enumeration order wins (when keys overlap, use an ordered dictionary such as .NET 9's <c>OrderedDictionary</c>).
    /// Saved in that order.
    /// </summary>
    public IReadOnlyDictionary<string, int>? RankPattern { get; init; }

    /// <summary>Per-layer alphas overriding <see cref="LoraAlpha"/>, matched as <see cref="RankPattern"/>. PEFT's <c>alpha_pattern</c>.</summary>
    public IReadOnlyDictionary<string, double>? AlphaPattern { get; init; }

    /// <summary>
    /// Weight-decomposed LoRA (DoRA, Liu et al. 2024): each layer also trains a magnitude per output row,
    /// <c>W' = m ⊙ (W + s·B A) / ‖W + s·B A‖</c> (row norms, detached), as PEFT computes it. PEFT's <c>use_dora</c>.
    /// </summary>
    public bool UseDora { get; init; }

    /// <inheritdoc />
    public override string PeftType => "LORA";

    /// <summary>The multiplier applied to <c>B A x</c> in a layer no pattern names.</summary>
    public double Scaling => ScalingOf(R, LoraAlpha);

    /// <summary>The rank of the layer at <paramref name="path"/>: its <see cref="RankPattern"/> entry, else <see cref="R"/>.</summary>
    /// <param name="path">The layer's full dotted path, e.g. <c>model.layers.1.fc1</c>.</param>
    public int RankFor(string path) => PatternKey.Resolve(RankPattern, path, R, nameof(RankPattern));

    /// <summary>The alpha of the layer at <paramref name="path"/>: its <see cref="AlphaPattern"/> entry, else <see cref="LoraAlpha"/>.</summary>
    /// <param name="path">The layer's full dotted path.</param>
    public double AlphaFor(string path) => PatternKey.Resolve(AlphaPattern, path, LoraAlpha, nameof(AlphaPattern));

    /// <summary>The scaling of the layer at <paramref name="path"/>, from its own rank and alpha.</summary>
    /// <param name="path">The layer's full dotted path.</param>
    public double ScalingFor(string path) => ScalingOf(RankFor(path), AlphaFor(path));

    private double ScalingOf(int r, double alpha) => UseRsLora ? alpha / Math.Sqrt(r) : alpha / r;

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Require(R >= 1, nameof(R), $"must be at least 1 (got {R}).");
        Require(double.IsFinite(LoraAlpha), nameof(LoraAlpha), $"must be finite (got {LoraAlpha}).");
        Require(LoraDropout >= 0 && LoraDropout < 1, nameof(LoraDropout), $"must be in [0, 1) (got {LoraDropout}).");
        Require(Enum.IsDefined(InitLoraWeights), nameof(InitLoraWeights), $"is not a known initialisation ({InitLoraWeights}).");
        PatternKey.Validate(RankPattern, nameof(RankPattern));
        PatternKey.Validate(AlphaPattern, nameof(AlphaPattern));
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>())
            Require(r >= 1, nameof(RankPattern), $"gives '{key}' rank {r}; a rank must be at least 1.");
        foreach (var (key, alpha) in AlphaPattern ?? new Dictionary<string, double>())
            Require(double.IsFinite(alpha), nameof(AlphaPattern), $"gives '{key}' alpha {alpha}; it must be finite.");
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
        w.Set("use_dora", UseDora);
        w.Set("init_lora_weights", InitLoraWeights switch
        {
            LoraInit.Gaussian => "gaussian",
            LoraInit.Random => false,
            _ => true,
        });
        // PEFT's defaults for the options this library does not implement, so PEFT reads the file as written.
        w.Set("bias", "none");
        w.Set("fan_in_fan_out", false);
        w.Set("lora_bias", false);
        w.Set("rank_pattern", LoraPatternFields.Write(RankPattern));
        w.Set("alpha_pattern", LoraPatternFields.Write(AlphaPattern));
        w.Set("layer_replication", null);
    }
}
