using static TorchSharp.torch;

namespace Lily;

/// <summary>The active adapter's Lily layers, and the checks that mixtures given for them fit.</summary>
internal static class LilyLayers
{
    /// <summary>The active adapter's Lily layers in traversal order.</summary>
    /// <exception cref="InvalidOperationException">No adapter is active, or the active adapter is not Lily.</exception>
    public static IReadOnlyList<(string Path, LilyLinear Layer)> Of<TModel>(PeftModel<TModel> peft) where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(peft);
        if (peft.ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        var layers = peft.AdaptedModules.Where(a => a.Layer is LilyLinear).Select(a => (a.Path, (LilyLinear)a.Layer)).ToList();
        if (layers.Count == 0)
            throw new InvalidOperationException($"The active adapter '{peft.ActiveAdapter}' ({peft.Config.PeftType}) has no Lily layers.");
        return layers;
    }

    /// <summary>
    /// Checks that every key of <paramref name="mixtures"/> names one of <paramref name="layers"/> (a typo
    /// would otherwise be ignored silently) and that each mixture is a finite vector with one entry per expert.
    /// </summary>
    public static void CheckMixtures(IReadOnlyDictionary<string, double[]> mixtures, IEnumerable<(string Path, int Experts)> layers, string parameterName)
    {
        var expected = layers.ToDictionary(l => l.Path, l => l.Experts, StringComparer.Ordinal);
        var unknown = mixtures.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"No Lily layer of the active adapter at {string.Join(", ", unknown.Select(k => $"'{k}'"))}; the layers are {string.Join(", ", expected.Keys)}.", parameterName);
        foreach (var (path, mixture) in mixtures)
        {
            if (mixture is null || mixture.Length != expected[path])
                throw new ArgumentException($"The mixture for '{path}' must have {expected[path]} entries (one per expert), got {mixture?.Length.ToString() ?? "null"}.", parameterName);
            if (!mixture.All(double.IsFinite))
                throw new ArgumentException($"The mixture for '{path}' holds a NaN or an infinity.", parameterName);
        }
    }
}
