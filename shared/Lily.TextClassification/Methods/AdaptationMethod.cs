using Lily.Planning;
using Lily.Tuners;

namespace Lily.TextClassification.Methods;

/// <summary>
/// One way to fine-tune the classifier: train the head only, train everything, or inject a PEFT method's
/// adapters (<see cref="Config"/>) and train them with the head.
/// </summary>
/// <param name="Id">Short name used on the command line and in files: head, full, lora, dora, lily, clora.</param>
/// <param name="Config">The adapter config (head included as a module to save); null for head-only and full.</param>
/// <param name="Trainable">Trainable parameters as <see cref="PeftPlan"/> counts them (head included).</param>
public sealed record AdaptationMethod(string Id, PeftConfig? Config, long Trainable)
{
    /// <summary>The name in tables and plots.</summary>
    public string Label => Labels.TryGetValue(Id, out var label) ? label : Id;

    /// <summary>Whether the encoder is trained in full.</summary>
    public bool IsFull => Id == "full";

    /// <summary>Whether only the classification head trains.</summary>
    public bool IsHeadOnly => Id == "head";

    /// <summary>Every method id, in the order tables list them.</summary>
    public static IReadOnlyList<string> AllIds { get; } = ["head", "lora", "dora", "lily", "clora", "full"];

    private static readonly Dictionary<string, string> Labels = new(StringComparer.Ordinal)
    {
        ["head"] = "head only",
        ["full"] = "full fine-tuning",
        ["lora"] = "LoRA",
        ["dora"] = "DoRA",
        ["lily"] = "Lily",
        ["clora"] = "CLoRA",
    };

    /// <summary>This method with Lily's or CLoRA's <c>scaling</c> set (the knob tuned beside the learning rate).</summary>
    public AdaptationMethod WithScaling(double scaling) => Config switch
    {
        LilyConfig lily => this with { Config = lily with { Scaling = scaling } },
        CLoraConfig clora => this with { Config = clora with { Scaling = scaling } },
        _ when scaling == 1.0 => this,
        _ => throw new ArgumentException($"{Label} has no scaling to set (LoRA's scale is alpha / r).", nameof(scaling)),
    };
}
