using System.Globalization;
using System.Text.RegularExpressions;
using Lily.Matching;
using Lily.Tuners;
using TorchSharp.Modules;

namespace Lily.Injection;

/// <summary>
/// Chooses the Linear layers a config adapts, by PEFT's rules, in the model's traversal order:
/// <c>target_modules</c> (names, a regex, or <c>all-linear</c>), then <c>exclude_modules</c>, then
/// <c>layers_to_transform</c> / <c>layers_pattern</c>. Injection and planning both call this, so a plan
/// describes exactly what injection adapts.
/// </summary>
internal static class TargetSelector
{
    /// <summary>A chosen layer: the tree node (a Linear, or the wrapper standing in its place) and its target.</summary>
    public sealed record Selected(ModuleTree.Node Node, AdapterTarget Target);

    /// <summary>True when <paramref name="config"/> asks for <c>all-linear</c>.</summary>
    public static bool IsAllLinear(PeftConfig config) =>
        config.TargetModules is [var only] && string.Equals(only, PeftConfig.AllLinear, StringComparison.OrdinalIgnoreCase);

    /// <summary>The Linear a node stands for: itself, or the original layer inside an adapter wrapper.</summary>
    public static Linear? LinearOf(ModuleTree.Node node) => node.Module switch
    {
        Linear linear => linear,
        TunerLinear wrapper => wrapper.Site.BaseLayer,
        _ => null,
    };

    /// <summary>
    /// The layers <paramref name="config"/> adapts in <paramref name="modules"/> (from <see cref="ModuleTree.Walk"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A match is not a Linear, a Linear is reached by two paths, or nothing matches.</exception>
    public static List<Selected> Select(List<ModuleTree.Node> modules, PeftConfig config)
    {
        var selected = new List<Selected>();
        foreach (var (node, entry) in Matches(modules, config))
        {
            var linear = LinearOf(node) ?? throw new ArgumentException(
                $"Target module '{node.Path}' is a {node.Module.GetType().Name}; {config.PeftType} adapts only Linear layers. " +
                "Narrow target modules so they name Linear layers only.", nameof(config));
            var twin = selected.FirstOrDefault(s => ReferenceEquals(s.Target.BaseLayer, linear));
            if (twin is not null)
                throw new ArgumentException(
                    $"Target modules '{twin.Node.Path}' and '{node.Path}' are the same Linear object; adapting a layer shared between two places is not supported.",
                    "model");
            selected.Add(new Selected(node, new AdapterTarget(node.Path, linear, entry)));
        }
        if (selected.Count == 0)
        {
            var linears = modules.Where(m => m.Parent is not null && LinearOf(m) is not null).Select(m => m.Path).ToList();
            throw new ArgumentException(
                $"No module of the model matches {Describe(config)}. " +
                (linears.Count == 0 ? "The model has no Linear layers." : $"Its Linear layers are: {string.Join(", ", linears)}.") +
                (NativeModulesNote(modules) is { } note ? " " + note : "") +
                (UnregisteredModules.Note(modules) is { } unregistered ? " " + unregistered : ""),
                nameof(config));
        }
        return selected;
    }

    /// <summary>
    /// The modules <paramref name="config"/> names, after exclusions and the layer filter, with the
    /// entry that named each; not yet checked to be Linear layers.
    /// </summary>
    public static List<(ModuleTree.Node Node, string Entry)> Matches(List<ModuleTree.Node> modules, PeftConfig config)
    {
        var budget = new MatchBudget();    // one time budget for every match of this config
        var exclude = TargetModuleMatcher.ForExclusions(config, budget);
        var layerIndex = LayerIndexRule(config, budget);
        var candidates = new List<(ModuleTree.Node Node, string Entry)>();
        if (IsAllLinear(config))
        {
            var linears = modules.Where(m => m.Parent is not null && LinearOf(m) is not null).ToList();
            // The output layer is the last Linear in traversal order (where heads sit by convention):
            // PEFT leaves the output layer out of all-linear, found there by get_output_embeddings().
            foreach (var node in linears.Take(linears.Count - 1)) candidates.Add((node, node.Name));
        }
        else
        {
            var matcher = TargetModuleMatcher.ForTargets(config, budget);
            foreach (var node in modules)
            {
                if (node.Parent is not null && matcher.MatchedEntry(node.Path) is string entry) candidates.Add((node, entry));
            }
        }
        return candidates.Where(c => exclude?.IsMatch(c.Node.Path) != true && (layerIndex is null || layerIndex(c.Node.Path))).ToList();
    }

    /// <summary>
    /// The entries of a list of target modules that name no module of the model (PEFT users rely on
    /// hearing of a typo), each with a note when the model holds TorchSharp's native layers; empty for
    /// a regex or <c>all-linear</c>.
    /// </summary>
    public static List<string> UnmatchedEntries(List<ModuleTree.Node> modules, PeftConfig config)
    {
        if (config.TargetModulesRegex is { Length: > 0 } || IsAllLinear(config) || config.TargetModules is not { } entries) return [];
        return entries.Where(e => !modules.Any(m => m.Parent is not null && TargetModuleMatcher.ForNames([e]).IsMatch(m.Path))).ToList();
    }

    /// <summary>
    /// A sentence naming the model's TorchSharp native layers whose projections are parameters inside one
    /// native module, not Linear layers (<c>MultiheadAttention</c>, the <c>Transformer*</c> modules, recurrent
    /// layers), so no adapter can attach to them; null when the model has none.
    /// </summary>
    public static string? NativeModulesNote(List<ModuleTree.Node> modules)
    {
        string[] native = ["MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer", "LSTM", "GRU", "RNN"];
        var found = modules.Where(m => m.Module.GetType().Namespace == "TorchSharp.Modules" && native.Contains(m.Module.GetType().Name))
            .Select(m => $"'{(m.Path.Length == 0 ? "(the model)" : m.Path)}' ({m.Module.GetType().Name})").ToList();
        if (found.Count == 0) return null;
        return $"The model uses TorchSharp's native layers {string.Join(", ", found)}: their projections are weights inside one native " +
               "module, not Linear layers, so no adapter can attach to them. Write those blocks with Linear layers (q_proj, k_proj, v_proj, " +
               "o_proj, as a Llama-style attention is written), or target other layers.";
    }

    private static string Describe(PeftConfig config)
    {
        var text = IsAllLinear(config) ? "target modules all-linear" : $"target modules {TargetModuleMatcher.ForTargets(config)}";
        if (TargetModuleMatcher.ForExclusions(config) is { } exclude) text += $" excluding {exclude}";
        if (config.LayersToTransform is { Count: > 0 } layers) text += $" in layers [{string.Join(", ", layers)}]";
        return text;
    }

    // PEFT's layers_to_transform: the layer index is the number after ".<pattern>." (the first pattern
    // that matches, non-greedy prefix required), or without a pattern the FIRST number after a ".name."
    // (PEFT PR #3318: in model.layers.1.mlp.experts.0.up_proj the layer is 1, not the expert 0).
    private static Func<string, bool>? LayerIndexRule(PeftConfig config, MatchBudget budget)
    {
        if (config.LayersToTransform is not { Count: > 0 } layers) return null;
        var wanted = layers.ToHashSet();
        const string field = nameof(PeftConfig.LayersPattern);
        // The user's pattern is checked and wrapped (a group of its own) by PathPattern before it is embedded.
        var patterns = config.LayersPattern is { Count: > 0 } names
            ? names.Select(p => PathPattern.CompileEmbedded(p, field, part => $@"^.*?\.{part}\.(\d+)\.")).ToList()
            : [new Regex(@"^.*?\.[^.]*\.(\d+)\.", RegexOptions.CultureInvariant, PathPattern.MatchTimeout)];
        return path =>
        {
            foreach (var pattern in patterns)
            {
                var match = budget.Run(() => pattern.Match(path), field, path);
                if (match.Success) return int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && wanted.Contains(index);
            }
            return false;
        };
    }
}
