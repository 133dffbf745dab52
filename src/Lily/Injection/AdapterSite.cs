using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

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
    private TunerLinear? wrapper;
    private IDisposable? hook;

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
    public string? ActiveAdapter { get; internal set; }

    /// <summary>When true, the layer computes its base output alone.</summary>
    public bool Disabled { get; internal set; }

    /// <summary>While a mixed-adapter batch runs, which adapter each sample uses (see <see cref="PerSampleAdapters"/>); else null.</summary>
    internal PerSampleAdapters? PerSample { get; set; }

    /// <summary>
    /// How many times the layer has run with its adapters attached. A hooked layer whose parent calls
    /// <c>forward()</c> directly never counts up: hooks fire only through <c>call()</c>.
    /// </summary>
    public long Applications { get; private set; }

    /// <summary>The active adapter's layer, or null.</summary>
    public AdapterLinear? ActiveLayer => ActiveAdapter is { } n && adapters.TryGetValue(n, out var l) ? l : null;

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
        if (ActiveAdapter == adapterName) ActiveAdapter = null;
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

    /// <summary>The replaced layer's forward: base output on rows, plus the active update.</summary>
    internal Tensor Forward(Tensor input)
    {
        Applications++;
        var layer = Disabled ? null : ActiveLayer;
        var perSample = Disabled ? null : PerSample;
        if (perSample is null && (layer is null || layer.Merged)) return BaseLayer.forward(input);
        using var scope = NewDisposeScope();
        var rows = BaseLayer.forward(input.reshape(-1, BaseLayer.in_features));
        return (perSample?.Apply(this, input, rows) ?? layer!.AddUpdate(input, rows)).view([.. input.shape[..^1], BaseLayer.out_features]).MoveToOuterDisposeScope();
    }

    // The hooked layer's forward hook: the base output is already computed; add the update to it.
    private Tensor OnForward(Tensor input, Tensor output)
    {
        Applications++;
        var layer = Disabled ? null : ActiveLayer;
        var perSample = Disabled ? null : PerSample;
        if (perSample is null && (layer is null || layer.Merged)) return output;
        // The output belongs to the caller's dispose scope; only this hook's temporaries die here.
        using var scope = NewDisposeScope();
        // reshape of the contiguous Linear output is a view, so the update is accumulated into the
        // output itself (autograd records the in-place write; linear's backward does not need its output).
        var rows = output.reshape(-1, BaseLayer.out_features);
        if (perSample is not null) perSample.Apply(this, input, rows);
        else layer!.AddUpdate(input, rows);
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
