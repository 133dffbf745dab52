using Lily.Injection;
using Lily.Tests.Support;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>Shared steps of the bypass-zoo tests: configs, a non-zero update, one training step, a save into a throwaway folder.</summary>
internal static class BypassZoo
{
    /// <summary>Every registered method: LoRA, DoRA, Lily and CLoRA.</summary>
    public static readonly string[] Methods = ["lora", "dora", "lily", "clora"];

    /// <summary>Both attachment modes.</summary>
    public static readonly AdapterAttachment[] Modes = [AdapterAttachment.Hook, AdapterAttachment.Replace];

    public static PeftConfig Config(string method, params string[] targets) => Config(method, 2.0, targets);

    /// <summary>A small config of <paramref name="method"/> whose update is multiplied by <paramref name="scaling"/>.</summary>
    public static PeftConfig Config(string method, double scaling, params string[] targets) => method switch
    {
        "lily" => new LilyConfig { TargetModules = targets, R = 2, NumB = 2, Scaling = scaling },
        "clora" => new CLoraConfig { TargetModules = targets, R = 2, NumBases = 2, Scaling = scaling },
        "lora" or "dora" => new LoraConfig { TargetModules = targets, R = 2, LoraAlpha = 2 * scaling, UseDora = method == "dora" },
        _ => throw new ArgumentException($"Unknown method '{method}'.", nameof(method)),
    };

    /// <summary>Every method in both attachment modes, as xunit rows.</summary>
    public static TheoryData<string, AdapterAttachment> MethodsAndModes()
    {
        var data = new TheoryData<string, AdapterAttachment>();
        foreach (var method in Methods)
            foreach (var mode in Modes) data.Add(method, mode);
        return data;
    }

    /// <summary>Every trainable adapter tensor gets random values, so an applied adapter changes the output.</summary>
    public static void GiveUpdates<T>(PeftModel<T> peft) where T : nn.Module
    {
        foreach (var p in peft.TrainableParameters()) TensorData.Set(p, randn_like(p) * 0.5);
    }

    /// <summary>One backward pass of a loss on <paramref name="forward"/>'s output (no optimizer: gradients are the evidence).</summary>
    public static void Backward(Func<Tensor> forward)
    {
        using var scope = NewDisposeScope();
        forward().square().mean().backward();
    }

    public static Tensor Input(long dim) => randn(3, 4, dim);

    /// <summary>Saves into a fresh folder and deletes it; returns whether the weights file was written.</summary>
    public static bool SaveWrites<T>(PeftModel<T> peft, bool verifyApplied = true) where T : nn.Module
    {
        var dir = Path.Combine(Path.GetTempPath(), "lily-bypass-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.Save(dir, verifyApplied: verifyApplied);
            return File.Exists(Path.Combine(dir, PeftModel.WeightsFileName));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The outcome the probe gave <paramref name="path"/>.</summary>
    public static ProbeOutcome OutcomeOf(AdapterProbeReport report, string path) => report.Layers.Single(l => l.Path == path).Outcome;
}
