using Lily.Planning;
using Lily.Tuners;
using TorchSharp;
using static TorchSharp.torch;

namespace Lily.TextClassification.Methods;

/// <summary>
/// The methods at one parameter budget: LoRA of rank <c>r</c> (alpha 2r) sets the budget, and DoRA, Lily and
/// CLoRA take the rank the library's <see cref="BudgetMatcher"/> finds nearest it (their other shape settings
/// fixed). Head-only and full fine-tuning are the two references.
/// </summary>
public static class MethodCatalog
{
    /// <summary>The module every method trains in full: the new classification head.</summary>
    public const string Head = "classifier";

    /// <summary>Builds the methods listed in <paramref name="ids"/> for <paramref name="model"/> (not changed).</summary>
    /// <param name="model">The classifier the adapters will go into (its shapes decide the counts).</param>
    /// <param name="ids">Method ids (see <see cref="AdaptationMethod.AllIds"/>).</param>
    /// <param name="targets">A <see cref="TargetSet"/> name.</param>
    /// <param name="loraRank">LoRA's rank, which sets the budget.</param>
    /// <param name="lilyStrideA">Lily's <c>stride_A</c>.</param>
    /// <param name="lilyExperts">Lily's <c>num_B</c>.</param>
    /// <param name="cloraBases">CLoRA's <c>p</c> (base pairs).</param>
    public static IReadOnlyList<AdaptationMethod> For(nn.Module model, IEnumerable<string> ids, string targets, int loraRank,
        int lilyStrideA = 2, int lilyExperts = 2, int cloraBases = 4)
    {
        var modules = TargetSet.Modules(targets);
        var lora = new LoraConfig { TargetModules = modules, R = loraRank, LoraAlpha = 2 * loraRank, ModulesToSave = [Head] };
        long budget = PeftPlan.For(model, lora).TrainableParameters;
        return ids.Select(id => id switch
        {
            "head" => new AdaptationMethod(id, null, TrainableOf(model, p => p.StartsWith(Head + ".", StringComparison.Ordinal))),
            "full" => new AdaptationMethod(id, null, TrainableOf(model, _ => true)),
            "lora" => new AdaptationMethod(id, lora, budget),
            "dora" => Dora(model, lora, budget),
            "lily" => Matched(id, model, new LilyConfig { TargetModules = modules, R = 1, StrideA = lilyStrideA, NumB = lilyExperts, ModulesToSave = [Head] }, budget),
            "clora" => Matched(id, model, new CLoraConfig { TargetModules = modules, R = 1, NumBases = cloraBases, ModulesToSave = [Head] }, budget),
            _ => throw new ArgumentException($"Unknown method '{id}'; known: {string.Join(", ", AdaptationMethod.AllIds)}.", nameof(ids)),
        }).ToList();
    }

    private static AdaptationMethod Matched(string id, nn.Module model, PeftConfig config, long budget)
    {
        var match = BudgetMatcher.Match(model, config, budget, maxRank: 256);
        return new AdaptationMethod(id, match.Config, match.Trainable);
    }

    // DoRA's rank is matched like the others, with alpha kept at 2r for the rank found.
    private static AdaptationMethod Dora(nn.Module model, LoraConfig lora, long budget)
    {
        var match = BudgetMatcher.Match(model, lora with { R = 1, LoraAlpha = 2, UseDora = true }, budget, maxRank: 256);
        int r = ((LoraConfig)match.Config).R;
        return new AdaptationMethod("dora", lora with { R = r, LoraAlpha = 2 * r, UseDora = true }, match.Trainable);
    }

    private static long TrainableOf(nn.Module model, Func<string, bool> trains) =>
        model.named_parameters().Where(p => trains(p.name)).Sum(p => p.parameter.numel());
}
