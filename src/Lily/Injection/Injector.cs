using System.Text.RegularExpressions;
using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Injects one adapter into a model in two steps: <see cref="Prepare"/> checks everything and builds
/// every adapter layer without touching the model; <see cref="Apply"/> then attaches them. A failure
/// in the first step leaves the model exactly as it was. Knows no concrete method: the config's
/// builder makes the layers.
/// </summary>
internal static class Injector
{
    /// <summary>One layer to adapt: where, with what, and how it is attached.</summary>
    public sealed record PlannedLayer(TargetSelector.Selected Selected, AdapterLinear Layer, AdapterAttachment Attachment, AdapterSite? Existing, nn.Module FollowerHost)
    {
        public AdapterTarget Target => Selected.Target;
    }

    /// <summary>
    /// Everything an injection will do, and its <c>Warnings</c>: what the user should hear about but that
    /// does not stop injection (a target entry that matches nothing).
    /// </summary>
    public sealed record Plan(PeftConfig Config, AdapterBuilder Builder, IReadOnlyList<PlannedLayer> Layers, IReadOnlyList<(string Path, nn.Module Module)> ModulesToSave,
        IReadOnlyList<string> TraversalOrder, IReadOnlyList<string> Warnings);

    /// <summary>Chooses the layers and modules to save, checks them, and builds the adapter layers.</summary>
    /// <exception cref="ArgumentException">The config does not fit the model; nothing has changed.</exception>
    public static Plan Prepare(nn.Module model, PeftConfig config, AdapterAttachment attachment, IReadOnlyList<AdapterSite> existing, IReadOnlyList<ModuleToSave> saved)
    {
        var modules = ModuleTree.Walk(model).ToList();
        var selected = TargetSelector.Select(modules, config);
        var toSave = FindModulesToSave(modules, config, selected, existing, saved);

        foreach (var s in selected)
        {
            var inSaved = saved.FirstOrDefault(m => IsWithin(s.Target.Path, m.Path));
            if (inSaved is not null)
                throw new ArgumentException($"Cannot adapt '{s.Target.Path}': it is inside '{inSaved.Path}', which another adapter trains in full (modules to save).", nameof(config));
        }

        var sitesByPath = existing.ToDictionary(s => s.Path, StringComparer.Ordinal);
        var aliases = ModuleAliases.Of(modules);
        var modes = new List<(TargetSelector.Selected Selected, AdapterAttachment Mode, AdapterSite? Site)>();
        foreach (var s in selected)
        {
            if (sitesByPath.TryGetValue(s.Target.Path, out var site))
            {
                modes.Add((s, site.Attachment, site));
                continue;
            }
            var why = ModuleTree.CannotReplace(s.Node.Parent!, s.Node.Name, s.Node.Module, typeof(TunerLinear)) ?? aliases.Describe(s.Node);
            if (attachment == AdapterAttachment.Replace && why is not null)
                throw new ArgumentException($"Cannot replace '{s.Target.Path}': {why}. Use AdapterAttachment.Auto or Hook to attach by a forward hook instead.", "model");
            var mode = attachment == AdapterAttachment.Hook || why is not null ? AdapterAttachment.Hook : AdapterAttachment.Replace;
            if (mode == AdapterAttachment.Hook && FollowerHost(modules, s.Node) is null)
                throw new ArgumentException($"Cannot attach to '{s.Target.Path}' by a hook: every module above it is a Sequential, which moves only the children it runs. Use AdapterAttachment.Auto or Replace.", "model");
            modes.Add((s, mode, null));
        }

        var builder = config.CreateBuilder();
        var layers = modes.Select(m =>
        {
            var linear = m.Selected.Target.BaseLayer;
            var layer = builder.Build(m.Selected.Target, linear.weight!.device, AdapterDtype(linear, config));
            // Only children are hung on the model (under PEFT's names); a parameter of the layer itself
            // would be counted and saved but never trained or moved.
            if (layer.named_parameters(recurse: false).FirstOrDefault() is { name: { } own })
                throw new InvalidOperationException($"{layer.GetType().Name} registers parameter '{own}' on itself; an adapter layer must keep its tensors in child modules (as lora_A, lora_B), which injection attaches to the model.");
            return new PlannedLayer(m.Selected, layer, m.Mode, m.Site, FollowerHost(modules, m.Selected.Node) ?? m.Selected.Node.Parent!);
        }).ToList();
        var warnings = new List<string>();
        if (TargetSelector.UnmatchedEntries(modules, config) is { Count: > 0 } unmatched)
        {
            warnings.Add($"Target modules {string.Join(", ", unmatched.Select(e => $"'{e}'"))} match no module of the model; the other entries were applied." +
                (TargetSelector.NativeModulesNote(modules) is { } note ? " " + note : ""));
        }
        // Every method's rank, checked here once: an update of a [d_out, d_in] layer has rank at most min(d_in, d_out).
        var capped = layers.Select(l => (l.Target, Rank: l.Layer.AllocatedRank, Cap: Math.Min(l.Target.BaseLayer.in_features, l.Target.BaseLayer.out_features)))
            .Where(l => l.Rank > l.Cap).ToList();
        if (capped.Count > 0)
        {
            warnings.Add($"The rank exceeds min(in, out) of {capped.Count} layer(s), so their update's rank is at most that and the rest only adds parameters: " +
                string.Join(", ", capped.Select(c => $"{c.Target.Path} (r = {c.Rank}, effective rank ≤ {c.Cap})")));
        }
        return new Plan(Resolve(config, modules, selected), builder, layers, toSave, modules.Select(m => m.Path).ToList(), warnings);
    }

    /// <summary>Attaches a prepared adapter as <paramref name="adapterName"/>; on failure undoes what it did and rethrows.</summary>
    public static void Apply(Plan plan, string adapterName, List<AdapterSite> sites, List<ModuleToSave> modulesToSave)
    {
        var added = new List<AdapterSite>();
        var attached = new List<AdapterSite>();
        try
        {
            foreach (var planned in plan.Layers)
            {
                var node = planned.Selected.Node;
                var site = planned.Existing ?? new AdapterSite(planned.Target.Path, node.Parent!, node.Name, planned.Target.BaseLayer, planned.Attachment, planned.FollowerHost);
                site.Add(adapterName, planned.Layer);
                added.Add(site);
                if (planned.Existing is null)
                {
                    site.Attach();
                    attached.Add(site);
                    sites.Add(site);
                }
            }
        }
        catch
        {
            foreach (var site in added) site.Remove(adapterName);
            foreach (var site in attached)
            {
                site.Detach();
                sites.Remove(site);
            }
            throw;
        }
        var order = plan.TraversalOrder.Select((path, i) => (path, i)).ToDictionary(p => p.path, p => p.i, StringComparer.Ordinal);
        sites.Sort((a, b) => order.GetValueOrDefault(a.Path, int.MaxValue).CompareTo(order.GetValueOrDefault(b.Path, int.MaxValue)));

        foreach (var (path, module) in plan.ModulesToSave)
        {
            var entry = modulesToSave.FirstOrDefault(m => m.Path == path);
            if (entry is null)
            {
                entry = new ModuleToSave(path, module);
                modulesToSave.Add(entry);
            }
            entry.AddOwner(adapterName);
        }
    }

    /// <summary>The dtype of an adapter on <paramref name="layer"/>: float32 for half-precision bases (PEFT's <c>autocast_adapter_dtype</c>).</summary>
    public static ScalarType AdapterDtype(Linear layer, PeftConfig config)
    {
        var dtype = layer.weight!.dtype;
        return config.AutocastAdapterDtype && dtype is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : dtype;
    }

    // all-linear is resolved to the chosen layers' names, as PEFT writes it (Lily groups by them). Those
    // names may also match modules that were not chosen (the output layer, a container named "0"): their
    // paths are added to the exclusions, so the file selects exactly the same layers again.
    private static PeftConfig Resolve(PeftConfig config, List<ModuleTree.Node> modules, List<TargetSelector.Selected> selected)
    {
        if (!TargetSelector.IsAllLinear(config)) return config;
        var names = selected.Select(s => s.Target.TargetEntry).Distinct(StringComparer.Ordinal).ToList();
        var resolved = config with { TargetModules = names };
        var chosen = selected.Select(s => s.Target.Path).ToHashSet(StringComparer.Ordinal);
        var extra = TargetSelector.Matches(modules, resolved).Select(m => m.Node.Path).Where(p => !chosen.Contains(p)).ToList();
        if (extra.Count == 0) return resolved;
        if (config.ExcludeModulesRegex is { Length: > 0 } regex)
            return resolved with { ExcludeModulesRegex = string.Join("|", [$"(?:{regex})", .. extra.Select(Regex.Escape)]) };
        return resolved with { ExcludeModules = [.. config.ExcludeModules ?? [], .. extra] };
    }

    /// <summary>
    /// The modules <paramref name="config"/> trains in full, checked: something matches, no two are
    /// nested, none overlaps an adapted layer (of this or another adapter) or another adapter's module.
    /// </summary>
    public static List<(string Path, nn.Module Module)> FindModulesToSave(List<ModuleTree.Node> modules, PeftConfig config,
        List<TargetSelector.Selected> targets, IReadOnlyList<AdapterSite> existing, IReadOnlyList<ModuleToSave> saved)
    {
        if (config.ModulesToSave is not { Count: > 0 } names) return [];
        var matcher = TargetModuleMatcher.ForNames(names, nameof(PeftConfig.ModulesToSave));
        var found = modules.Where(m => m.Parent is not null && matcher.IsMatch(m.Path)).ToList();
        if (found.Count == 0)
            throw new ArgumentException($"No module of the model matches modules to save {matcher}.", nameof(config));
        foreach (var a in found)
        {
            var nested = found.FirstOrDefault(b => b != a && IsWithin(b.Path, a.Path))
                ?? (saved.FirstOrDefault(m => IsWithin(m.Path, a.Path) && m.Path != a.Path) is { } s1 ? modules.First(m => m.Path == s1.Path) : null);
            if (nested is not null)
                throw new ArgumentException($"Modules to save '{a.Path}' and '{nested.Path}' are nested; name only the outer one.", nameof(config));
            var outer = saved.FirstOrDefault(m => IsWithin(a.Path, m.Path) && m.Path != a.Path);
            if (outer is not null)
                throw new ArgumentException($"Modules to save '{a.Path}' is inside '{outer.Path}', which another adapter saves; name the same module.", nameof(config));
            var overlap = targets.Select(t => t.Target.Path).Concat(existing.Select(s => s.Path)).FirstOrDefault(p => IsWithin(p, a.Path));
            if (overlap is not null)
                throw new ArgumentException($"Module '{a.Path}' is both trained in full (modules to save) and adapted ('{overlap}'); choose one.", nameof(config));
        }
        return found.Select(f => (f.Path, f.Module)).ToList();
    }

    // Where a hooked layer's DeviceFollower is registered: the nearest ancestor whose to() reaches all
    // its registered children. Sequential's named_children lists only the modules it runs, so a
    // follower registered in a Sequential would never be moved; it goes one level further up.
    private static nn.Module? FollowerHost(List<ModuleTree.Node> modules, ModuleTree.Node node)
    {
        var byPath = modules.ToDictionary(m => m.Path, StringComparer.Ordinal);
        for (var current = node; current.Parent is not null; current = byPath[ParentPath(current.Path)])
        {
            if (current.Parent is not Sequential) return current.Parent;
        }
        return null;
    }

    private static string ParentPath(string path) => path.LastIndexOf('.') is int i and >= 0 ? path[..i] : "";

    // True when `path` is `outer` or below it.
    private static bool IsWithin(string path, string outer) => path == outer || path.StartsWith(outer + ".", StringComparison.Ordinal);
}
