using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// One adapted layer's update as a low-rank product <c>Scaling · B · A</c>: the factors its method
/// declares (<see cref="AdapterLinear.UpdateFactors"/>), or a Lily layer at a given mixture (<c>B = (Σ_e p_e B_e)ᵀ</c>). The tensors are detached and belong to
/// the dispose scope current when they were made.
/// </summary>
internal sealed record LayerFactors(string Path, Tensor B, Tensor A, double Scaling, double[]? Mixture)
{
    /// <summary>The rank r of the factors.</summary>
    public int Rank => (int)A.shape[0];

    /// <summary>
    /// The factors of every layer of the active adapter, in traversal order. Lily layers take their
    /// mixture from <paramref name="mixtures"/>, else their frozen mixture.
    /// </summary>
    /// <exception cref="ArgumentException">A Lily layer has neither; or a mixture does not fit (see <see cref="LilyLayers.CheckMixtures"/>).</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank update.</exception>
    public static List<LayerFactors> Of<TModel>(PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]>? mixtures, string parameterName)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        if (peft.ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        var modules = peft.AdaptedModules;
        if (mixtures is not null)
            LilyLayers.CheckMixtures(mixtures, modules.Where(m => m.Layer is LilyLinear).Select(m => (m.Path, ((LilyLinear)m.Layer).LilyB.Experts)), parameterName);
        var missing = modules.Where(m => m.Layer is LilyLinear l && l.FrozenMixture is null && mixtures?.ContainsKey(m.Path) != true).Select(m => m.Path).ToList();
        if (missing.Count > 0)
            throw new ArgumentException(
                $"No mixture for the Lily layer(s) {string.Join(", ", missing)}: their update depends on the input. Pass a mixture per layer " +
                "(e.g. from CalibrateRouting), or freeze their routing first (FreezeRouting).", parameterName);
        return modules.Select(m => Of(m, mixtures)).ToList();
    }

    /// <summary>
    /// One layer's factors: a Lily layer at its mixture in <paramref name="mixtures"/> when given,
    /// else whatever the layer declares (<see cref="AdapterLinear.UpdateFactors"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">The layer declares no fixed low-rank update.</exception>
    public static LayerFactors Of(AdaptedModule module, IReadOnlyDictionary<string, double[]>? mixtures)
    {
        using var noGrad = no_grad();
        var layer = module.Layer;
        double[]? mixture = mixtures is not null && mixtures.TryGetValue(module.Path, out var given) ? given : null;
        var factors = (mixture, layer) switch
        {
            ({ } p, LilyLinear lily) => lily.FactorsAt(p),
            _ => layer.UpdateFactors(),
        } ?? throw new NotSupportedException($"'{module.Path}' ({layer.GetType().Name}): {layer.NoFactorsReason}.");
        return new LayerFactors(module.Path, factors.B.detach(), factors.A.detach(), factors.Scaling, mixture ?? (layer as LilyLinear)?.FrozenMixture);
    }
}
