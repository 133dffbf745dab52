using System.Collections.Concurrent;
using Lily.Planning;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>
/// Trainable-parameter budgets of the benchmarks: LoRA at <see cref="LoraRank"/>, and Lily
/// (stride_A = 1, <see cref="Experts"/> experts) at the rank the library's <see cref="BudgetMatcher"/>
/// chooses for LoRA's count. Every count comes from <see cref="PeftPlan"/>, i.e. from the adapter
/// layers injection builds; no formula is repeated here.
/// </summary>
public static class Budget
{
    /// <summary>LoRA's rank in every comparison.</summary>
    public const int LoraRank = 8;

    /// <summary>Lily's number of B experts (PEFT's default num_B).</summary>
    public const int Experts = 2;

    /// <summary>Depth of the stack the layer microbenchmarks' budgets are matched on (ViT-B and most LLMs of this size: 12).</summary>
    public const int StackDepth = 12;

    /// <summary>Largest relative gap allowed between the matched budgets.</summary>
    public const double Tolerance = 0.05;

    private static readonly ConcurrentDictionary<long, (BudgetMatch Match, PeftPlan Lora, PeftPlan Lily)> Stacks = new();

    /// <summary>The benchmarks' LoRA config on <paramref name="targets"/>: r = 8, alpha = 8 (scaling 1).</summary>
    public static LoraConfig Lora(IReadOnlyList<string> targets) => new() { TargetModules = targets, R = LoraRank, LoraAlpha = LoraRank };

    /// <summary>
    /// The Lily config on <paramref name="targets"/> whose trainable count on <paramref name="model"/> is
    /// nearest LoRA's (modules to save included on both sides).
    /// </summary>
    /// <exception cref="InvalidOperationException">No rank comes within <see cref="Tolerance"/>.</exception>
    public static BudgetMatch MatchLily(nn.Module model, IReadOnlyList<string> targets, IReadOnlyList<string>? modulesToSave = null)
    {
        long budget = PeftPlan.For(model, Lora(targets) with { ModulesToSave = modulesToSave }).TrainableParameters;
        var match = BudgetMatcher.Match(model, new LilyConfig { TargetModules = targets, StrideA = 1, NumB = Experts, ModulesToSave = modulesToSave }, budget, maxRank: 256);
        if (Math.Abs(match.RelativeGap) > Tolerance)
            throw new InvalidOperationException($"No Lily rank matches LoRA r = {LoraRank} within {Tolerance:P0} (best r = {((LilyConfig)match.Config).R}, off by {match.RelativeGap:P1}).");
        return match;
    }

    /// <summary>
    /// A stack of <see cref="StackDepth"/> square Linear layers d → d on the <c>meta</c> device (no
    /// memory): the model the layer microbenchmarks' budgets are matched on. Its layers are
    /// <c>0</c> … <c>11</c>, one target type.
    /// </summary>
    public static nn.Module Stack(long dim) =>
        nn.Sequential(Enumerable.Range(0, StackDepth).Select(i => ((string, nn.Module<Tensor, Tensor>))(i.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.Linear(dim, dim, device: META))).ToArray());

    /// <summary>The matched Lily rank on the d → d stack.</summary>
    public static int StackLilyRank(long dim) => ((LilyConfig)StackPlans(dim).Match.Config).R;

    /// <summary>
    /// Trainable parameters one layer of the d → d stack stands for: its own tensors, and of each
    /// tensor it shares, its share (elements / users). LoRA: its A and B; Lily: its A and router and
    /// 1/L of the pool. This is the single-layer microbenchmark's budget.
    /// </summary>
    public static double StackLayerShare(long dim, bool lily)
    {
        var plan = lily ? StackPlans(dim).Lily : StackPlans(dim).Lora;
        var layer = plan.Layers[0];
        var group = plan.SharingGroups.FirstOrDefault(g => g.Layers.Contains(layer.Path));
        return group is null
            ? layer.OwnParameters
            : group.Tensors.Where(t => t.Users.Contains(layer.Path)).Sum(t => t.Elements / (double)t.Users.Count);
    }

    private static (BudgetMatch Match, PeftPlan Lora, PeftPlan Lily) StackPlans(long dim) => Stacks.GetOrAdd(dim, d =>
    {
        using var stack = Stack(d);
        string[] targets = [@"\d+"];
        var lora = Lora([]) with { TargetModules = null, TargetModulesRegex = targets[0] };
        long budget = PeftPlan.For(stack, lora).TrainableParameters;
        var lilyBase = new LilyConfig { TargetModulesRegex = targets[0], StrideA = 1, NumB = Experts };
        var match = BudgetMatcher.Match(stack, lilyBase, budget, maxRank: 256);
        if (Math.Abs(match.RelativeGap) > Tolerance)
            throw new InvalidOperationException($"No Lily rank matches LoRA r = {LoraRank} on a {StackDepth}-layer {d} → {d} stack within {Tolerance:P0} (off by {match.RelativeGap:P1}).");
        return (match, PeftPlan.For(stack, lora), PeftPlan.For(stack, match.Config));
    });
}
