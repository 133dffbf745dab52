using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// One adapted layer's update as a low-rank product: the factors its method declares
/// (<see cref="AdapterLinear.UpdateFactors"/>), or a routed layer's at a given mixture
/// (<see cref="IRoutedAdapter.FactorsAt"/>). The tensors are detached and belong to the dispose scope
/// current when they were made.
/// </summary>
/// <param name="Path">The layer's path in the model.</param>
/// <param name="Update">The factors, <c>Scaling · B · A</c>.</param>
/// <param name="Mixture">For a routed layer, the expert weights the factors are taken at; otherwise null.</param>
internal sealed record LayerFactors(string Path, LowRankUpdate Update, double[]? Mixture)
{
    /// <summary>The left factor <c>[d_out, r]</c>.</summary>
    public Tensor B => Update.B;

    /// <summary>The right factor <c>[r, d_in]</c>.</summary>
    public Tensor A => Update.A;

    /// <summary>The multiplier of the product.</summary>
    public double Scaling => Update.Scaling;

    /// <summary>The rank r of the factors.</summary>
    public int Rank => (int)Update.InnerDimension;

    /// <summary>
    /// The factors of every layer of the active adapter, in traversal order. Routed layers take their
    /// mixture from <paramref name="mixtures"/>, else their frozen mixture.
    /// </summary>
    /// <exception cref="ArgumentException">A routed layer has neither; or a mixture does not fit (see <see cref="RoutedLayers.CheckMixtures"/>).</exception>
    /// <exception cref="NotSupportedException">A layer's method declares no fixed low-rank update.</exception>
    public static List<LayerFactors> Of<TModel>(PeftModel<TModel> peft, IReadOnlyDictionary<string, double[]>? mixtures, string parameterName)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        if (peft.ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        var modules = peft.AdaptedModules;
        var routed = RoutedLayers.In(modules).ToList();
        if (mixtures is not null)
            RoutedLayers.CheckMixtures(mixtures, routed.Select(l => (l.Path, l.Routed.Experts)), parameterName);
        var missing = routed.Where(l => l.Routed.FrozenMixture is null && mixtures?.ContainsKey(l.Path) != true).Select(l => l.Path).ToList();
        if (missing.Count > 0)
            throw new ArgumentException(
                $"No mixture for the routed layer(s) {string.Join(", ", missing)}: their update depends on the input. Pass a mixture per layer " +
                "(e.g. from CalibrateRouting), or freeze their routing first (FreezeRouting).", parameterName);
        return modules.Select(m => Of(m, mixtures)).ToList();
    }

    /// <summary>
    /// One layer's factors: a routed layer at its mixture in <paramref name="mixtures"/> when given,
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
            ({ } p, IRoutedAdapter routed) => routed.FactorsAt(p),
            _ => layer.UpdateFactors(),
        } ?? throw new NotSupportedException($"'{module.Path}' ({layer.GetType().Name}): {layer.NoFactorsReason}.");
        return new LayerFactors(module.Path, new LowRankUpdate(factors.B.detach(), factors.A.detach(), factors.Scaling),
            mixture ?? (layer as IRoutedAdapter)?.FrozenMixture);
    }
}
