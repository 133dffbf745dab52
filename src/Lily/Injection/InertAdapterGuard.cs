using System.Reflection;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Catches adapters that are attached by a forward hook but never run, because their parent calls
/// the layer's <c>forward()</c> directly (TorchSharp fires hooks only through <c>call()</c>). Such an
/// adapter would be counted, trained (with no gradient) and saved while doing nothing: the worst
/// failure a PEFT library can have. The guard watches the model's first forward pass through
/// <c>call()</c>; if a hooked layer did not run during it, that call throws.
/// </summary>
internal sealed class InertAdapterGuard : IDisposable
{
    private readonly Func<IReadOnlyList<AdapterSite>> sites;
    private readonly List<object> removers = new();
    private Dictionary<AdapterSite, long>? before;

    private InertAdapterGuard(Func<IReadOnlyList<AdapterSite>> sites) => this.sites = sites;

    /// <summary>Installs the guard on <paramref name="root"/>, or returns null when the root takes no hooks.</summary>
    public static InertAdapterGuard? Install(nn.Module root, Func<IReadOnlyList<AdapterSite>> sites)
    {
        // Every HookableModule<,> has register_forward_pre_hook(Action<Module>) and
        // register_forward_hook(Action<Module>), whatever its forward's signature.
        var pre = root.GetType().GetMethod("register_forward_pre_hook", [typeof(Action<nn.Module>)]);
        var post = root.GetType().GetMethod("register_forward_hook", [typeof(Action<nn.Module>)]);
        if (pre is null || post is null) return null;
        var guard = new InertAdapterGuard(sites);
        guard.removers.Add(pre.Invoke(root, [(Action<nn.Module>)(_ => guard.Before())])!);
        guard.removers.Add(post.Invoke(root, [(Action<nn.Module>)(_ => guard.After())])!);
        return guard;
    }

    /// <summary>The hooked layers that have never run, with a message saying why and what to do; null if none.</summary>
    public static string? Describe(IEnumerable<AdapterSite> inert, string when)
    {
        var paths = inert.Select(s => s.Path).ToList();
        if (paths.Count == 0) return null;
        return $"The adapters on {string.Join(", ", paths)} were not applied {when}: these Linear layers could not be " +
               "replaced (a field typed Linear, a plain list, or a container subclass), so their adapters are attached by a " +
               "forward hook, and TorchSharp runs hooks only when a layer is invoked through call(); their parent calls " +
               "forward() directly. The adapters would be trained and saved while doing nothing. Fix: call the layer with " +
               ".call(x) in the parent's forward, or declare the field as Module<Tensor, Tensor> so the adapter can take the " +
               "layer's place, or leave these layers out of target modules (exclude_modules).";
    }

    private void Before() => before = sites().Where(s => s.Attachment == AdapterAttachment.Hook).ToDictionary(s => s, s => s.Applications);

    private void After()
    {
        if (before is null) return;
        var inert = before.Where(kv => kv.Key.Applications == kv.Value).Select(kv => kv.Key).ToList();
        before = null;
        if (Describe(inert, "during the model's forward pass") is string message) throw new InvalidOperationException(message);
        // One clean pass proves every hook fires; later passes cost nothing.
        Dispose();
    }

    /// <summary>False once a clean pass removed the guard (or it was disposed).</summary>
    public bool Active => removers.Count > 0;

    /// <summary>Removes the root hooks.</summary>
    public void Dispose()
    {
        foreach (var remover in removers) remover.GetType().GetMethod("remove", BindingFlags.Public | BindingFlags.Instance)!.Invoke(remover, null);
        removers.Clear();
    }
}
