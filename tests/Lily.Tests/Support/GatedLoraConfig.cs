using Lily.Serialization;

namespace Lily.Tests.Support;

/// <summary>
/// A method defined outside the library, as a user would: its config, its peft_type, its own
/// field (<c>gate_init</c>) and the reader it registers. Layers are not wired yet.
/// </summary>
public sealed record GatedLoraConfig : PeftConfig
{
    public const string Type = "GATED_LORA";

    public int R { get; init; } = 8;

    public double GateInit { get; init; } = 0.5;

    public override string PeftType => Type;

    public override void Validate()
    {
        base.Validate();
        Require(GateInit is >= 0 and <= 1, nameof(GateInit), $"must be in [0, 1] (got {GateInit}).");
    }

    public override AdapterBuilder CreateBuilder() => throw new NotImplementedException("GatedLoraConfig has no layers yet.");

    protected override void WriteFields(ConfigFieldWriter w)
    {
        w.Set("r", R);
        w.Set("gate_init", GateInit);
    }

    /// <summary>The reader registered for <see cref="Type"/>.</summary>
    public static PeftConfig Read(ConfigFieldReader f) => new GatedLoraConfig
    {
        R = f.Int("r") ?? 8,
        GateInit = f.Double("gate_init") ?? 0.5,
    };
}
