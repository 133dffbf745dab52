using System.Runtime.CompilerServices;
using Lily.Tuners;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// One Linear layer of the model that carries adapters: where it is, how the adapters are attached
/// (<see cref="AdapterAttachment"/>), the adapters by name, and which one runs. Each adapter's
/// modules hang under the layer's path at PEFT's names (<c>q_proj.lora_A.default</c>), in both
/// attachment modes, so <c>parameters()</c>, <c>state_dict()</c>, <c>train()</c> and <c>to()</c> see them.
/// </summary>
public sealed class AdapterSite
{
    private readonly Dictionary<string, AdapterLinear> adapters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AdapterModuleDict> kinds = new(StringComparer.Ordinal);
    private readonly nn.Module parent;
    private readonly string name;
    private readonly nn.Module followerHost;
    // Evidence for the next verdict (AdapterParticipation), by adapter name: how often its update was
    // applied here, and how often the original ran outside it while it was active, since the last verdict
    // that passed. Boxed so that a forward pass counts through the active adapter's boxes, cached below,
    // with Interlocked: several threads may run the model at once. An entry ends with its adapter (Remove).
    private readonly Dictionary<string, StrongBox<long>> appliedBy = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StrongBox<long>> bypassedWhile = new(StringComparer.Ordinal);
    // How often a backward pass reached the layer's output while the adapter's update was in it (GradientTap).
    private readonly Dictionary<string, StrongBox<long>> learnedBy = new(StringComparer.Ordinal);
    // The active adapter's layer and its count of applications, looked up when the active adapter or the
    // set of adapters changes rather than by name on every forward pass (docs/performance.md, "Where the
    // stack overhead goes").
    private string? activeAdapter;
    private AdapterLinear? activeLayer;
    private StrongBox<long>? activeApplied;
    private StrongBox<long>? activeBypassed;
    private StrongBox<long>? activeLearned;
    private long applications;
    private long bypasses;
    private TunerLinear? wrapper;
    private IDisposable? hook;
    private IDisposable? bypassWatch;

    internal AdapterSite(string path, nn.Module parent, string name, Linear baseLayer, AdapterAttachment attachment, nn.Module followerHost)
    {
        this.followerHost = followerHost;
        if (attachment == AdapterAttachment.Auto) throw new ArgumentException("Resolve Auto before creating a site.", nameof(attachment));
        Path = path;
        this.parent = parent;
        this.name = name;
        BaseLayer = baseLayer;
        Attachment = attachment;
    }

    /// <summary>The layer's full dotted path in the model, e.g. <c>blocks.0.attn.q_proj</c>.</summary>
    public string Path { get; }

    /// <summary>The adapted Linear, whose weights stay frozen.</summary>
    public Linear BaseLayer { get; }

    /// <summary>How the adapters are attached: <see cref="AdapterAttachment.Replace"/> or <see cref="AdapterAttachment.Hook"/>.</summary>
    public AdapterAttachment Attachment { get; }

    /// <summary>The adapters at this layer, by adapter name.</summary>
    public IReadOnlyDictionary<string, AdapterLinear> Adapters => adapters;

    /// <summary>The adapter that runs, or null (the model's active adapter does not adapt this layer).</summary>
    public string? ActiveAdapter
    {
        get => activeAdapter;
        internal set
        {
            activeAdapter = value;
            RefreshActive();
        }
    }

    /// <summary>When true, the layer computes its base output alone.</summary>
    public bool Disabled { get; internal set; }

    /// <summary>While a mixed-adapter batch runs, which adapter each sample uses (see <see cref="PerSampleAdapters"/>); else null.</summary>
    internal PerSampleAdapters? PerSample { get; set; }

    /// <summary>
    /// How many times the layer has run through the adapter's path (the wrapper's forward, or the hook).
    /// A hooked layer whose parent calls <c>forward()</c> directly never counts up (hooks fire only
    /// through <c>call()</c>), nor does a replaced layer whose original is run from somewhere else.
    /// </summary>
    public long Applications => Interlocked.Read(ref applications);

    /// <summary>
    /// How many times the original Linear ran through <c>call()</c> outside its adapter while an adapter
    /// was active: a replaced layer that the model still runs from a list, delegate or record holding
    /// the original. Always 0 for hooked layers, whose hook is on the original itself.
    /// </summary>
    public long Bypasses => Interlocked.Read(ref bypasses);

    /// <summary>
    /// The other registrations of the base weight (a tied head, another adapted layer sharing the weight),
    /// read when the site was made; empty when the weight is the layer's alone. Merging refuses while any exist.
    /// </summary>
    internal IReadOnlyList<string> WeightSharedWith { get; set; } = [];

    /// <summary>Set by the inference probe: a zero marker added to the layer's output, so autograd can tell whether it reaches the model's output.</summary>
    internal Tensor? ProbeMarker { get; set; }

    /// <summary>True when adapter <paramref name="adapterName"/>'s update was applied here since the last verdict that passed.</summary>
    internal bool Applied(string adapterName) => appliedBy.TryGetValue(adapterName, out var count) && Interlocked.Read(ref count.Value) > 0;

    /// <summary>How many times, since the last verdict that passed, the original ran outside its adapter while <paramref name="adapterName"/> was active.</summary>
    internal long BypassesWhile(string adapterName) => bypassedWhile.TryGetValue(adapterName, out var count) ? Interlocked.Read(ref count.Value) : 0;

    /// <summary>How many backward passes, since the last verdict that passed, reached the layer's output while adapter <paramref name="adapterName"/>'s update was in it.</summary>
    internal long LearnedWhile(string adapterName) => learnedBy.TryGetValue(adapterName, out var count) ? Interlocked.Read(ref count.Value) : 0;

    /// <summary>Starts adapter <paramref name="adapterName"/>'s evidence afresh: a verdict passed, and the next speaks for the passes after it.</summary>
    internal void ResetEvidence(string adapterName)
    {
        if (appliedBy.TryGetValue(adapterName, out var applied)) Interlocked.Exchange(ref applied.Value, 0);
        if (bypassedWhile.TryGetValue(adapterName, out var bypassed)) Interlocked.Exchange(ref bypassed.Value, 0);
        if (learnedBy.TryGetValue(adapterName, out var learned)) Interlocked.Exchange(ref learned.Value, 0);
    }

    /// <summary>The active adapter's layer, or null.</summary>
    public AdapterLinear? ActiveLayer => activeLayer;

    /// <summary>The containers of the adapters' modules (one per kind: lora_A, lora_B, …).</summary>
    internal IEnumerable<nn.Module> AdapterModules => kinds.Values;

    /// <summary>Hangs the site on the model: the wrapper takes the Linear's place, or the hook is registered.</summary>
    internal void Attach()
    {
        if (Attachment == AdapterAttachment.Replace)
        {
            wrapper = new TunerLinear(this);
            foreach (var (kind, dict) in kinds) wrapper.RegisterKind(kind, dict);
            // A new module starts in training mode; follow the layer it replaces.
            wrapper.train(BaseLayer.training);
            ModuleTree.ReplaceChild(parent, name, wrapper);
            // The wrapper runs the original through forward(), which fires no hook: a hook on the original
            // fires only when something else still holds it and calls it, which bypasses the adapter.
            var remover = BaseLayer.register_forward_hook((_, _, output) => OnBypass(output));
            bypassWatch = new HookRegistration(remover.remove);
        }
        else
        {
            var remover = BaseLayer.register_forward_hook((_, input, output) => OnForward(input, output));
            hook = new HookRegistration(remover.remove);
            DeviceFollowerOf(followerHost, create: true)!.Follow(this);
            foreach (var (kind, dict) in kinds) BaseLayer.register_module(kind, dict);
        }
    }

    /// <summary>Takes the site off the model: the original Linear back in its place, no hook, no registration left.</summary>
    internal void Detach()
    {
        if (Attachment == AdapterAttachment.Replace)
        {
            if (wrapper is null) return;
            ModuleTree.ReplaceChild(parent, name, BaseLayer);
            wrapper = null;
            bypassWatch?.Dispose();
            bypassWatch = null;
        }
        else
        {
            if (hook is null) return;
            hook.Dispose();
            hook = null;
            foreach (var kind in kinds.Keys) BaseLayer.register_module(kind, null!);
            if (DeviceFollowerOf(followerHost, create: false) is { } follower)
            {
                follower.Unfollow(this);
                if (follower.IsEmpty) followerHost.register_module(DeviceFollower.RegisteredName, null!);
            }
        }
    }

    /// <summary>Adds adapter <paramref name="adapterName"/>'s layer: its modules go under PEFT's names.</summary>
    internal void Add(string adapterName, AdapterLinear layer)
    {
        adapters.Add(adapterName, layer);
        Count(appliedBy, adapterName);
        Count(bypassedWhile, adapterName);
        Count(learnedBy, adapterName);
        RefreshActive();
        layer.train(BaseLayer.training);
        foreach (var (kind, module) in layer.named_children())
        {
            if (!kinds.TryGetValue(kind, out var dict))
            {
                dict = new AdapterModuleDict();
                dict.train(BaseLayer.training);
                kinds.Add(kind, dict);
                RegisterKind(kind, dict);
            }
            dict.Add(adapterName, module);
        }
    }

    /// <summary>Removes adapter <paramref name="adapterName"/>'s layer and its modules.</summary>
    internal void Remove(string adapterName)
    {
        if (!adapters.Remove(adapterName, out var layer)) return;
        // Every per-name record ends here: an adapter added later under the same name starts with none.
        appliedBy.Remove(adapterName);
        bypassedWhile.Remove(adapterName);
        learnedBy.Remove(adapterName);
        if (ActiveAdapter == adapterName) ActiveAdapter = null;
        else RefreshActive();
        foreach (var (kind, _) in layer.named_children())
        {
            var dict = kinds[kind];
            dict.Remove(adapterName);
            if (dict.Count == 0)
            {
                kinds.Remove(kind);
                UnregisterKind(kind);
            }
        }
    }

    private void RegisterKind(string kind, AdapterModuleDict dict)
    {
        if (wrapper is not null) wrapper.RegisterKind(kind, dict);
        else if (hook is not null) BaseLayer.register_module(kind, dict);
    }

    private void UnregisterKind(string kind)
    {
        if (wrapper is not null) wrapper.register_module(kind, null!);
        else if (hook is not null) BaseLayer.register_module(kind, null!);
    }

    /// <summary>The replaced layer's forward: base output on rows, plus the active update (or each sample's, in a mixed batch).</summary>
    internal Tensor Forward(Tensor input)
    {
        var (layer, perSample) = CountPass();
        if (perSample is null && (layer is null || layer.Merged)) return Marked(BaseLayer.forward(input));
        using var scope = NewDisposeScope();
        var rows = BaseLayer.forward(input.reshape(-1, BaseLayer.in_features));
        var shape = input.shape;    // one read: each allocates an array
        shape[^1] = BaseLayer.out_features;
        var updated = perSample?.Apply(this, input, rows) ?? layer!.AddUpdate(input, rows);
        if (perSample is null) TapGradient(updated);
        var output = updated.view(shape);
        return Marked(output).MoveToOuterDisposeScope();
    }

    // The hooked layer's forward hook: the base output is already computed; add the update to it.
    private Tensor OnForward(Tensor input, Tensor output)
    {
        var (layer, perSample) = CountPass();
        if (perSample is not null || layer is { Merged: false })
        {
            // The output belongs to the caller's dispose scope; only this hook's temporaries die here.
            using var scope = NewDisposeScope();
            // A contiguous output's rows are a view of it, so the update is accumulated into the output
            // itself (autograd records the in-place write; linear's backward does not need its output).
            // Otherwise reshape copies, and the sum is returned in the output's place.
            var rows = output.reshape(-1, BaseLayer.out_features);
            if (perSample is not null) perSample.Apply(this, input, rows);
            else TapGradient(layer!.AddUpdate(input, rows));
            if (!output.is_contiguous()) output = rows.view(output.shape).MoveToOuterDisposeScope();
        }
        return Marked(output);
    }

    // Counts one pass through the adapter's path and returns what applies: the active adapter's layer,
    // or in a mixed batch the per-sample plan (whose named adapters held here are the ones applied).
    private (AdapterLinear? Layer, PerSampleAdapters? PerSample) CountPass()
    {
        Interlocked.Increment(ref applications);
        if (Disabled) return (null, null);
        // The probe's own pass is no evidence for a verdict: it speaks for itself (its report).
        bool counting = ProbeMarker is null;
        if (PerSample is { } perSample)
        {
            if (counting)
            {
                foreach (var adapter in perSample.Names.Distinct(StringComparer.Ordinal))
                    if (appliedBy.TryGetValue(adapter, out var count)) Interlocked.Increment(ref count.Value);
            }
            return (null, perSample);
        }
        if (activeLayer is not null && counting) Interlocked.Increment(ref activeApplied!.Value);
        return (activeLayer, null);
    }

    // The box counting for adapter adapterName in `counts`, made on first use: when the adapter is added,
    // never in a forward pass (a dictionary must not change while other threads read it).
    private static StrongBox<long> Count(Dictionary<string, StrongBox<long>> counts, string adapterName)
    {
        if (!counts.TryGetValue(adapterName, out var count)) counts.Add(adapterName, count = new StrongBox<long>());
        return count;
    }

    // Looks up the active adapter's layer and count again: after the active adapter or the adapters changed.
    private void RefreshActive()
    {
        activeLayer = activeAdapter is { } n && adapters.TryGetValue(n, out var l) ? l : null;
        activeApplied = activeLayer is null ? null : Count(appliedBy, activeAdapter!);
        activeBypassed = activeLayer is null ? null : Count(bypassedWhile, activeAdapter!);
        activeLearned = activeLayer is null ? null : Count(learnedBy, activeAdapter!);
    }

    // In a pass that records gradients for the update, a zero added to the output whose backward counts:
    // evidence that the loss reaches this adapter (not the probe's pass, whose run is its own).
    private void TapGradient(Tensor rows)
    {
        if (ProbeMarker is null && activeLearned is { } learned && rows.requires_grad && is_grad_enabled()) GradientTap.AddTo(rows, learned);
    }

    private Tensor Marked(Tensor output) => ProbeMarker is { } marker ? output + marker : output;

    // A replaced layer's original ran through call(): something other than the wrapper holds it.
    private Tensor OnBypass(Tensor output)
    {
        // A merged update is in the weights, so the original applies it whoever calls it.
        if (!Disabled && PerSample is null && ActiveLayer is { Merged: false })
        {
            Interlocked.Increment(ref bypasses);
            if (ProbeMarker is null && activeBypassed is { } count) Interlocked.Increment(ref count.Value);
        }
        return output;
    }

    private static DeviceFollower? DeviceFollowerOf(nn.Module host, bool create)
    {
        var existing = host.named_children().FirstOrDefault(c => c.name == DeviceFollower.RegisteredName).module as DeviceFollower;
        if (existing is not null || !create) return existing;
        var follower = new DeviceFollower();
        host.register_module(DeviceFollower.RegisteredName, follower);
        return follower;
    }

    // TorchSharp's HookRemover has remove(), not Dispose().
    private sealed class HookRegistration(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }
}
