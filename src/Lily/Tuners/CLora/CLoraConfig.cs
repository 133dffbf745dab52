namespace Lily.Tuners;

/// <summary>
/// CLoRA: collaborative low-rank adaptation (Liu, Zhu, Huang, arXiv 2512.24603), implemented from
/// the published description (see docs/methods/clora.md for every assumption). The layers of one
/// group share <see cref="NumBases"/> pairs of base spaces, a down-projection <c>D_h</c>
/// (<c>d_in × r</c>) and an up-projection <c>U_h</c> (<c>r × d_out</c>); each layer j has its own
/// cores <c>Q_h^j</c> (<c>r × r</c>), and its update is <c>x ↦ scaling · x Σ_h D_h Q_h^j U_h</c>, of
/// rank up to <c>p·r</c> (LoRA's is at most r). The update is a fixed matrix, so it merges into W.
/// SADE, the paper's regularizer on the similarity of the terms <c>D_h Q_h^j U_h</c>, is the layer's
/// training term (<see cref="PeftModel{TModel}.AuxiliaryLoss()"/>) with weight <see cref="SadeWeight"/>.
/// </summary>
public sealed record CLoraConfig : PeftConfig
{
    /// <summary>The method's <c>peft_type</c> in <c>adapter_config.json</c>.</summary>
    public const string Type = "CLORA";

    /// <summary>Rank r of each base space and core. At least 1 (the paper uses 8).</summary>
    public int R { get; init; } = 8;

    /// <summary>Number p of shared base pairs (D_h, U_h). At least 1 (p = 1 is a LoRA with a shared A and B and an own r × r core per layer).</summary>
    public int NumBases { get; init; } = 4;

    /// <summary>Plain multiplier of the update (no alpha / r).</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>
    /// Weight of the SADE regularizer in <see cref="PeftModel{TModel}.AuxiliaryLoss()"/>; 0 (the default)
    /// turns it off. Finite and non-negative.
    /// </summary>
    public double SadeWeight { get; init; }

    /// <summary>
    /// Start the cores Q at zero, so the adapter starts as a no-op while D and U are random (default
    /// true). False draws Q uniform in ±1/√r too: useful only for tests and experiments.
    /// </summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Which layers share one set of bases (in the file <c>"target"</c> or <c>"shape"</c>).</summary>
    public CLoraSharing ShareBy { get; init; } = CLoraSharing.TargetType;

    /// <inheritdoc />
    public override string PeftType => Type;

    /// <inheritdoc />
    public override string? RankKnob => Fields.RankKnob;

    /// <inheritdoc />
    public override IReadOnlyList<string> ShapeKnobs => Fields.ShapeKnobs;

    /// <inheritdoc />
    public override PeftConfig WithKnob(string knob, int value) => Fields.WithKnob(this, knob, value) ?? throw UnknownKnob(knob);

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        Fields.Validate(this);
    }

    /// <inheritdoc />
    public override AdapterBuilder CreateBuilder() => new CLoraBuilder(this);

    /// <inheritdoc />
    protected override void WriteFields(ConfigFieldWriter w) => Fields.Write(this, w);

    /// <summary>The file's words for <see cref="CLoraSharing"/>.</summary>
    private static readonly (CLoraSharing Value, string Text)[] Sharings = [(CLoraSharing.TargetType, "target"), (CLoraSharing.Shape, "shape")];

    /// <summary>CLoRA's fields of <c>adapter_config.json</c>, each declared once (the defaults are the properties' initializers above).</summary>
    internal static readonly ConfigFields<CLoraConfig> Fields = new ConfigFields<CLoraConfig>()
        .Field(c => c.R, "r", r => r >= 1 ? null : $"must be at least 1 (got {r}).", ConfigKnob.Rank)
        .Field(c => c.NumBases, "num_bases", p => p >= 1 ? null : $"must be at least 1 (got {p}).", ConfigKnob.Shape)
        .Field(c => c.Scaling, "scaling", s => double.IsFinite(s) ? null : $"must be finite (got {s}).")
        .Field(c => c.SadeWeight, "sade_weight", w => double.IsFinite(w) && w >= 0 ? null : $"must be finite and non-negative (got {w}).")
        .Field(c => c.InitWeights, "init_weights")
        .Mapped(c => c.ShareBy, "share_by", sharing => Sharings.First(s => s.Value == sharing).Text,
            (f, name, _) => f.String(name) is string text && Sharings.Where(s => s.Text == text).ToList() is [var match, ..]
                ? match.Value
                : throw f.Error(name, $"is '{f.String(name)}', not one of {string.Join(", ", Sharings.Select(s => $"\"{s.Text}\""))}"),
            sharing => Enum.IsDefined(sharing) ? null : $"is not a known sharing ({sharing}).");
}
