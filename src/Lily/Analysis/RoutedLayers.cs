using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Analysis;

/// <summary>
/// The active adapter's routed layers (<see cref="IRoutedAdapter"/>), and the checks that mixtures given
/// for them fit. Every tool that works on routing finds its layers here, by capability, never by method.
/// </summary>
internal static class RoutedLayers
{
    /// <summary>The active adapter's routed layers in traversal order.</summary>
    /// <exception cref="InvalidOperationException">No adapter is active, or the active adapter has no routed layers.</exception>
    public static IReadOnlyList<(string Path, AdapterLinear Layer, IRoutedAdapter Routed)> Of<TModel>(PeftModel<TModel> peft) where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        if (peft.ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        var layers = In(peft.AdaptedModules).ToList();
        if (layers.Count == 0)
            throw new InvalidOperationException(
                $"The active adapter '{peft.ActiveAdapter}' ({peft.Config.PeftType}) has no routed layers (layers whose method mixes experts by a router, as Lily's do).");
        return layers;
    }

    /// <summary>The routed layers among <paramref name="modules"/>, in their order.</summary>
    public static IEnumerable<(string Path, AdapterLinear Layer, IRoutedAdapter Routed)> In(IEnumerable<AdaptedModule> modules) =>
        modules.Where(m => m.Layer is IRoutedAdapter).Select(m => (m.Path, m.Layer, (IRoutedAdapter)m.Layer));

    /// <summary>
    /// Checks that every key of <paramref name="mixtures"/> names one of <paramref name="layers"/> (a typo
    /// would otherwise be ignored silently) and that each mixture is a finite vector with one entry per expert.
    /// </summary>
    public static void CheckMixtures(IReadOnlyDictionary<string, double[]> mixtures, IEnumerable<(string Path, int Experts)> layers, string parameterName)
    {
        var expected = layers.ToDictionary(l => l.Path, l => l.Experts, StringComparer.Ordinal);
        var unknown = mixtures.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"No routed layer of the active adapter at {string.Join(", ", unknown.Select(k => $"'{k}'"))}; the layers are {string.Join(", ", expected.Keys)}.", parameterName);
        foreach (var (path, mixture) in mixtures)
        {
            if (mixture is null || mixture.Length != expected[path])
                throw new ArgumentException($"The mixture for '{path}' must have {expected[path]} entries (one per expert), got {mixture?.Length.ToString() ?? "null"}.", parameterName);
            if (!mixture.All(double.IsFinite))
                throw new ArgumentException($"The mixture for '{path}' holds a NaN or an infinity.", parameterName);
        }
    }
}
