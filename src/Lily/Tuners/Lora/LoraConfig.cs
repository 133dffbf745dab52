using System.Text.Json.Nodes;
using Lily.Matching;

namespace Lily.Tuners;

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
/// Defaults are PEFT's (listed in docs/config-fields.md).
/// </summary>
public sealed record LoraConfig : PeftConfig
{
    /// <summary>The method's <c>peft_type</c> in <c>adapter_config.json</c>, as PEFT writes it.</summary>
    public const string Type = "LORA";

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
    public override string PeftType => Type;

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
        Fields.Validate(this);
    }

    /// <inheritdoc />
    public override string? RankKnob => Fields.RankKnob;

    /// <inheritdoc />
    public override PeftConfig WithKnob(string knob, int value) => Fields.WithKnob(this, knob, value) ?? throw UnknownKnob(knob);

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new LoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w) => Fields.Write(this, w);

    /// <summary>
    /// LoRA's fields of <c>adapter_config.json</c>, each declared once (the defaults are the properties'
    /// initializers above). First the PEFT options this library does not implement: the ones PEFT always writes
    /// are written with PEFT's defaults, so PEFT reads the file as written, and a file that sets any of them
    /// to something that changes the computation or the weights' layout is refused, which beats a silently
    /// different model.
    /// </summary>
    internal static readonly ConfigFields<LoraConfig> Fields = new ConfigFields<LoraConfig>()
        .Fixed("bias", "none", (f, name) =>
        {
            if (f.String(name) is string bias && bias != "none")
                throw new InvalidDataException($"{f.Source}: {name} '{bias}' is not supported (only \"none\").");
        })
        .Fixed("fan_in_fan_out", false, (f, name) => f.RejectTrue(name))
        .Fixed("lora_bias", false, (f, name) => f.RejectTrue(name))
        .RejectTrue("use_qalora")
        .Fixed("layer_replication", null, (f, name) => f.RejectNonEmpty(name))
        .RejectNonEmpty("target_parameters", "trainable_token_indices", "alora_invocation_tokens", "arrow_config", "use_bdlora",
            "monteclora_config", "kasa_config")
        // Settings of initialisations we reject through init_lora_weights, of Megatron layers, of QALoRA
        // (rejected above) or of save-time behaviour: they cannot change what this library computes.
        .Ignore("loftq_config", "corda_config", "eva_config", "lora_ga_config", "megatron_config", "megatron_core",
            "qalora_group_size", "ensure_weight_tying", "velora_config")
        .Field(c => c.R, "r", r => r >= 1 ? null : $"must be at least 1 (got {r}).", ConfigKnob.Rank)
        .Field(c => c.LoraAlpha, "lora_alpha", a => double.IsFinite(a) ? null : $"must be finite (got {a}).")
        .Field(c => c.LoraDropout, "lora_dropout", p => p >= 0 && p < 1 ? null : $"must be in [0, 1) (got {p}).")
        .Field(c => c.UseRsLora, "use_rslora")
        .Field(c => c.UseDora, "use_dora")
        .Mapped(c => c.InitLoraWeights, "init_lora_weights",
            init => init switch
            {
                LoraInit.Gaussian => "gaussian",
                LoraInit.Random => false,
                _ => true,
            },
            (f, name, node) => node switch
            {
                JsonValue v when v.TryGetValue(out bool b) => b ? LoraInit.KaimingUniform : LoraInit.Random,
                JsonValue v when v.TryGetValue(out string? s) && s == "gaussian" => LoraInit.Gaussian,
                _ => throw new InvalidDataException($"{f.Source}: {name} {node.ToJsonString()} is not supported (true, false or \"gaussian\")."),
            },
            init => Enum.IsDefined(init) ? null : $"is not a known initialisation ({init}).")
        .Mapped(c => c.RankPattern, "rank_pattern", LoraPatternFields.Write, LoraPatternFields.ReadRanks,
            p => LoraPatternFields.Check(p, nameof(RankPattern), "rank", r => r >= 1, "a rank must be at least 1."))
        .Mapped(c => c.AlphaPattern, "alpha_pattern", LoraPatternFields.Write, LoraPatternFields.ReadAlphas,
            p => LoraPatternFields.Check(p, nameof(AlphaPattern), "alpha", double.IsFinite, "it must be finite."));
}
