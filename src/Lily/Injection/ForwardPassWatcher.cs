using System.Reflection;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Watches the model's forward passes through <c>call()</c> on its root: counts them per active
/// adapter (evidence that the model ran, for <see cref="AdapterParticipation"/>), and after the first
/// pass of each adapter logs one warning naming its layers that did not run in it. It never throws:
/// a layer may legitimately sit out a pass (a branch not taken, an expert that received no tokens),
/// so the verdict waits until one is asked for. A root called through <c>forward()</c> fires no hook,
/// and a root that is a plain <c>nn.Module</c> takes none; then nothing is counted here. Counts are
/// per adapter name and end with the adapter (<see cref="Forget"/>); a passed verdict starts them afresh
/// (<see cref="Reset"/>). Forward passes may run on several threads at once: one lock guards the state.
/// </summary>
internal sealed class ForwardPassWatcher : IDisposable
{
    private readonly Func<IReadOnlyList<AdapterSite>> sites;
    private readonly Func<string?> activeAdapter;
    private readonly Action<string, string> warn;
    private readonly List<object> removers = new();
    private readonly Dictionary<string, long> passes = new(StringComparer.Ordinal);
    private readonly HashSet<string> looked = new(StringComparer.Ordinal);
    private readonly object gate = new();
    // The first pass of an adapter, looked at by one thread: the sites' applications before it.
    private Dictionary<AdapterSite, long>? before;
    private int firstPassThread;

    private ForwardPassWatcher(Func<IReadOnlyList<AdapterSite>> sites, Func<string?> activeAdapter, Action<string, string> warn)
    {
        this.sites = sites;
        this.activeAdapter = activeAdapter;
        this.warn = warn;
    }

    /// <summary>Installs the watcher on <paramref name="root"/> (a root that takes no hooks gets a watcher that sees nothing), reading <paramref name="sites"/> and <paramref name="activeAdapter"/> (null when no pass should count) on each pass.</summary>
    public static ForwardPassWatcher Install(nn.Module root, Func<IReadOnlyList<AdapterSite>> sites, Func<string?> activeAdapter, Action<string, string> warn)
    {
        var watcher = new ForwardPassWatcher(sites, activeAdapter, warn);
        // Every HookableModule<,> has register_forward_pre_hook(Action<Module>) and
        // register_forward_hook(Action<Module>), whatever its forward's signature.
        var pre = root.GetType().GetMethod("register_forward_pre_hook", [typeof(Action<nn.Module>)]);
        var post = root.GetType().GetMethod("register_forward_hook", [typeof(Action<nn.Module>)]);
        if (pre is not null && post is not null)
        {
            watcher.removers.Add(pre.Invoke(root, [(Action<nn.Module>)(_ => watcher.Before())])!);
            watcher.removers.Add(post.Invoke(root, [(Action<nn.Module>)(_ => watcher.After())])!);
        }
        return watcher;
    }

    /// <summary>False when the root takes no hooks, so passes cannot be counted.</summary>
    public bool Watching => removers.Count > 0;

    /// <summary>How many passes through the root's <c>call()</c> ran while <paramref name="adapterName"/> was active.</summary>
    public long PassesWhile(string adapterName)
    {
        lock (gate) return passes.GetValueOrDefault(adapterName);
    }

    /// <summary>A verdict on adapter <paramref name="adapterName"/> passed: the next one counts the passes after it.</summary>
    public void Reset(string adapterName)
    {
        lock (gate) passes.Remove(adapterName);
    }

    /// <summary>Adapter <paramref name="adapterName"/> was deleted: nothing about it is kept for an adapter added later under its name.</summary>
    public void Forget(string adapterName)
    {
        lock (gate)
        {
            passes.Remove(adapterName);
            looked.Remove(adapterName);
        }
    }

    private void Before()
    {
        if (activeAdapter() is not { } name) return;
        lock (gate)
        {
            passes[name] = passes.GetValueOrDefault(name) + 1;
            if (before is null && !looked.Contains(name))
            {
                before = sites().Where(s => s.ActiveAdapter == name).ToDictionary(s => s, s => s.Applications);
                firstPassThread = Environment.CurrentManagedThreadId;
            }
        }
    }

    private void After()
    {
        if (activeAdapter() is not { } name) return;
        List<string> idle;
        lock (gate)
        {
            // Another thread's pass may have run meanwhile: the warning is a hint, not a verdict.
            if (before is null || firstPassThread != Environment.CurrentManagedThreadId) return;
            looked.Add(name);
            idle = before.Where(kv => kv.Key.Applications == kv.Value).Select(kv => kv.Key.Path).ToList();
            before = null;
        }
        if (idle.Count > 0)
        {
            warn(name,
                $"the layers {string.Join(", ", idle)} did not run through their adapter in the model's first forward pass. Either the data " +
                "did not reach them (a branch not taken, an expert with no tokens: fine), or the model runs them in a way that bypasses the " +
                "adapter (forward() on a hooked layer, the original Linear kept in a list or delegate, its weight used directly). " +
                "peft.VerifyAdaptersApplied(() => model.forward(x)) tells which; Save checks again.");
        }
    }

    /// <summary>Removes the root hooks.</summary>
    public void Dispose()
    {
        foreach (var remover in removers) remover.GetType().GetMethod("remove", BindingFlags.Public | BindingFlags.Instance)!.Invoke(remover, null);
        removers.Clear();
    }
}
