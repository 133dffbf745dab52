using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// A module trained in full and saved with an adapter (PEFT's <c>modules_to_save</c>), kept as PEFT's
/// <c>ModulesToSaveWrapper</c> keeps it: the original beside one trained copy per adapter.
/// </summary>
/// <remarks>
/// The copies are kept as parameter values, not as module objects: TorchSharp cannot clone an
/// arbitrary module, and swapping values works for every module type and however the parent holds
/// it. The module itself always holds the values that run — the active adapter's copy, or the
/// original while adapters are disabled or when the active adapter does not save this module — so the
/// optimizer trains the live parameters, and nothing in forward changes.
/// </remarks>
internal sealed class ModuleToSave
{
    private readonly Dictionary<string, Dictionary<string, Tensor>> stored = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> original;
    private readonly HashSet<string> owners = new(StringComparer.Ordinal);
    // Parameters that already had a gradient (from training before injection, or before the last passed
    // verdict): theirs proves nothing about the passes since.
    private HashSet<string> gradientBefore;

    public ModuleToSave(string path, nn.Module module)
    {
        Path = path;
        Module = module;
        original = Snapshot();
        gradientBefore = WithGradient().ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>True when a parameter of the module received a gradient since injection: the model ran a backward pass.</summary>
    public bool ReceivedGradient() => WithGradient().Any(name => !gradientBefore.Contains(name));

    /// <summary>A verdict passed: only gradients that appear after it are evidence for the next.</summary>
    public void ResetGradientEvidence() => gradientBefore = WithGradient().ToHashSet(StringComparer.Ordinal);

    private List<string> WithGradient()
    {
        // Each read of .grad makes a tensor handle; the scope frees them.
        using var scope = NewDisposeScope();
        return Module.named_parameters().Where(p => p.parameter.grad is not null).Select(p => p.name).ToList();
    }

    /// <summary>The module's full path.</summary>
    public string Path { get; }

    /// <summary>The module itself.</summary>
    public nn.Module Module { get; }

    /// <summary>Whose values the module holds: an adapter's name, or null for the original.</summary>
    public string? Live { get; private set; }

    /// <summary>The adapters that save this module.</summary>
    public IReadOnlyCollection<string> Owners => owners;

    /// <summary>Adapter <paramref name="adapterName"/> saves this module; its copy starts as the original.</summary>
    public void AddOwner(string adapterName)
    {
        owners.Add(adapterName);
        if (Live != adapterName) stored[adapterName] = Clone(original);
    }

    /// <summary>Drops adapter <paramref name="adapterName"/>'s copy; the original runs if it was live.</summary>
    public void RemoveOwner(string adapterName)
    {
        if (Live == adapterName) Show(null);
        owners.Remove(adapterName);
        if (stored.Remove(adapterName, out var values)) Dispose(values);
    }

    /// <summary>Puts adapter <paramref name="adapterName"/>'s copy in the module (the original when it has none or it is null).</summary>
    public void Show(string? adapterName)
    {
        if (adapterName is not null && !owners.Contains(adapterName)) adapterName = null;
        if (adapterName == Live) return;
        if (Live is not null) stored[Live] = Snapshot();
        Load(adapterName is null ? original : stored[adapterName]);
        if (adapterName is not null && stored.Remove(adapterName, out var values)) Dispose(values);
        Live = adapterName;
    }

    /// <summary>Puts the original values back and forgets every copy.</summary>
    public void RestoreOriginal()
    {
        Show(null);
        Forget();
    }

    /// <summary>Keeps the live values in the module and forgets the original and every copy.</summary>
    public void Forget()
    {
        Dispose(original);
        foreach (var values in stored.Values) Dispose(values);
        stored.Clear();
        owners.Clear();
        Live = null;
    }

    private Dictionary<string, Tensor> Snapshot() => Clone(Module.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));

    private static Dictionary<string, Tensor> Clone(Dictionary<string, Tensor> values)
    {
        using (no_grad())
            return values.ToDictionary(v => v.Key, v => v.Value.detach().clone().DetachFromDisposeScope());
    }

    private void Load(Dictionary<string, Tensor> values)
    {
        using (no_grad())
        {
            foreach (var (name, p) in Module.named_parameters())
                p.copy_(values[name]);
        }
    }

    private static void Dispose(Dictionary<string, Tensor> values)
    {
        foreach (var t in values.Values) t.Dispose();
    }
}
