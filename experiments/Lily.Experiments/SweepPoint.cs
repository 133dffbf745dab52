using Lily.FashionMnist;
using Lily.Planning;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>One budget of the sweep: LoRA at a rank, and DoRA, Lily and CLoRA matched to LoRA's trainable count.</summary>
/// <param name="Variant">Which layers the methods adapt (see <see cref="SweepPlan.Variants"/>).</param>
/// <param name="LoraRank">LoRA's rank, which sets the budget.</param>
/// <param name="Lora">LoRA's config.</param>
/// <param name="Lily">Lily's config at the matched rank, its count and its gap to LoRA's.</param>
/// <param name="CLora">CLoRA's config at the matched rank (with the sweep's SADE weight), its count and its gap.</param>
/// <param name="Dora">DoRA's config (LoRA with <c>use_dora</c>) at the matched rank, its count and its gap.</param>
/// <param name="CLoraSade">
/// CLoRA + SADE's config when it differs from <paramref name="CLora"/>'s (a tuned sweep may choose another p
/// for it); null: <paramref name="CLora"/>'s, which carries the SADE weight.
/// </param>
public sealed record SweepPoint(string Variant, int LoraRank, LoraConfig Lora, BudgetMatch Lily, BudgetMatch CLora, BudgetMatch Dora, BudgetMatch? CLoraSade = null)
{
    /// <summary>The match the <c>clora-sade</c> runs use: <see cref="CLoraSade"/>, or <see cref="CLora"/>.</summary>
    public BudgetMatch CLoraSadeMatch => CLoraSade ?? CLora;

    /// <summary>The sweep's methods at this budget: <c>lora</c>, <c>dora</c>, <c>lily</c>, <c>clora</c> (SADE off) and <c>clora-sade</c>.</summary>
    public IReadOnlyList<(string Method, PeftConfig Config, BudgetMatch? Match)> Methods()
    {
        var clora = (CLoraConfig)CLora.Config;
        var list = new List<(string, PeftConfig, BudgetMatch?)> { ("lora", Lora, null), ("dora", Dora.Config, Dora), ("lily", Lily.Config, Lily), ("clora", clora with { SadeWeight = 0 }, CLora) };
        var sade = (CLoraConfig)CLoraSadeMatch.Config;
        if (sade.SadeWeight > 0) list.Add(("clora-sade", sade, CLoraSadeMatch));
        return list;
    }
}
