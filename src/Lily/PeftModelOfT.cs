using Lily.Accounting;
using Lily.Injection;
using Lily.Tuners;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// A model carrying adapters: the model object itself (<see cref="Model"/>, changed in place), its
/// named adapters (PEFT's <c>add_adapter</c> / <c>set_adapter</c> / <c>delete_adapter</c>), and the
/// operations on them — counting, disabling, merging, removing, saving. Exactly one adapter is active
/// at a time. Create one with <see cref="PeftModel.Create{TModel}"/> or <see cref="PeftModel.Load{TModel}"/>.
/// </summary>
/// <typeparam name="TModel">The model's type.</typeparam>
public sealed partial class PeftModel<TModel> where TModel : nn.Module
{
    /// <summary>The name PEFT gives the first adapter.</summary>
    public const string DefaultAdapterName = "default";

    private readonly Dictionary<string, PeftConfig> configs = new(StringComparer.Ordinal);
    private readonly List<AdapterSite> sites = new();
    private readonly List<ModuleToSave> modulesToSave = new();
    // By parameter path, not object: moving the model to another device makes new Parameter objects.
    private readonly Dictionary<string, bool> originalRequiresGrad = new(StringComparer.Ordinal);
    private readonly ILoggerFactory loggerFactory;
    private readonly ILogger logger;
    private ForwardPassWatcher? watcher;
    private bool unloaded;
    private int openDisableScopes;
    private readonly List<string> warnings = new();
    private bool probing;

    internal PeftModel(TModel model, ILoggerFactory? loggerFactory)
    {
        Model = model;
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        logger = this.loggerFactory.CreateLogger("Lily.PeftModel");
    }

    /// <summary>The model, with adapters on its targeted Linear layers.</summary>
    public TModel Model { get; }

    /// <summary>The active adapter's name, or null when every adapter was deleted.</summary>
    public string? ActiveAdapter { get; private set; }

    /// <summary>The names of the adapters, in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => configs.Keys.ToList();

    /// <summary>Every adapter's config, by name. <c>target_modules = "all-linear"</c> appears resolved to the layers' names.</summary>
    public IReadOnlyDictionary<string, PeftConfig> Configs => configs;

    /// <summary>The active adapter's config.</summary>
    public PeftConfig Config => ActiveAdapter is { } name ? configs[name] : throw new InvalidOperationException("No adapter is active.");

    /// <summary>Every adapted Linear layer (of any adapter), in the model's traversal order.</summary>
    public IReadOnlyList<AdapterSite> Sites => sites;

    /// <summary>The active adapter's layers, in the model's traversal order.</summary>
    public IReadOnlyList<AdaptedModule> AdaptedModules => ActiveAdapter is { } name ? LayersOf(name) : [];

    /// <summary>Paths of the modules the active adapter trains in full and saves (<see cref="PeftConfig.ModulesToSave"/>).</summary>
    public IReadOnlyList<string> ModulesToSavePaths =>
        modulesToSave.Where(m => ActiveAdapter is { } n && m.Owners.Contains(n)).Select(m => m.Path).ToList();

    /// <summary>
    /// The parameters to optimise: every parameter that requires gradients (the active adapter's and
    /// its modules to save), each tensor once. Build the optimizer after moving the model (moving makes
    /// new parameters) and after switching adapters.
    /// </summary>
    public IReadOnlyList<Parameter> TrainableParameters() =>
        Model.parameters().Where(p => p.requires_grad).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToList();

    /// <summary>Trainable and total parameter counts (shared tensors once) and a row per layer of the active adapter.</summary>
    public ParameterSummary GetParameterSummary() =>
        ParameterSummary.Of(Model, AdaptedModules.Select(a => (a.Path, a.Layer)).ToList());

    /// <summary>
    /// Adds adapter <paramref name="adapterName"/> with its own config (PEFT's <c>add_adapter</c>). The
    /// new adapter is frozen and inactive until <see cref="SetAdapter"/>; for Lily it gets its own
    /// sharing groups over the layers it adapts. Everything is checked before the model is touched.
    /// </summary>
    /// <param name="adapterName">A new name: letters, digits, '_' or '-'.</param>
    /// <param name="config">The method and its settings.</param>
    /// <param name="attachment">How to attach to layers not adapted yet (layers that already carry an adapter keep theirs).</param>
    /// <exception cref="ArgumentException">The name or config is invalid, or no module matches; the model is unchanged.</exception>
    public void AddAdapter(string adapterName, PeftConfig config, AdapterAttachment attachment = AdapterAttachment.Auto) =>
        AddAdapterCore(adapterName, config, attachment, revise: null);

    // `revise` sees the prepared plan before the model is touched and may return another config to prepare instead.
    private void AddAdapterCore(string adapterName, PeftConfig config, AdapterAttachment attachment, Func<Injector.Plan, PeftConfig?>? revise)
    {
        ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(config);
        ValidateName(adapterName);
        if (configs.ContainsKey(adapterName)) throw new ArgumentException($"The model already has an adapter named '{adapterName}'.", nameof(adapterName));
        if (!Enum.IsDefined(attachment)) throw new ArgumentOutOfRangeException(nameof(attachment), attachment, "Unknown attachment mode.");
        config.Validate();
        if (sites.Any(s => s.ActiveLayer?.Merged == true)) throw new InvalidOperationException("Unmerge the active adapter before adding another.");

        var plan = Injector.Prepare(Model, config, attachment, existing: sites, saved: modulesToSave);
        if (revise?.Invoke(plan) is { } revised)
        {
            revised.Validate();
            plan = Injector.Prepare(Model, revised, attachment, existing: sites, saved: modulesToSave);
        }
        bool first = configs.Count == 0;
        if (first)
        {
            foreach (var (name, p) in Model.named_parameters())
            {
                originalRequiresGrad[name] = p.requires_grad;
                p.requires_grad = false;
            }
        }
        // Read before the sites attach: a wrapper or hook registers nothing of the base weight, but reading first keeps it simple.
        var holders = WeightHolders.Of(Model);
        var before = sites.ToHashSet();
        try
        {
            Injector.Apply(plan, adapterName, sites, modulesToSave);
        }
        catch when (first)
        {
            // Apply undid its own changes; undo the freezing too, so the model is as it was.
            RestoreRequiresGrad();
            originalRequiresGrad.Clear();
            throw;
        }
        configs.Add(adapterName, plan.Config);
        foreach (var site in sites.Where(s => !before.Contains(s)))
        {
            site.WeightSharedWith = holders.OthersThan(site.BaseLayer.weight!, site.BaseLayer);
            // An earlier site's holders were read before this layer shared its weight.
            foreach (var other in before.Where(o => ReferenceEquals(o.BaseLayer.weight, site.BaseLayer.weight)))
                other.WeightSharedWith = [.. other.WeightSharedWith, site.Path + ".weight"];
        }

        logger.LogInformation("Adapter '{Adapter}': {Method} on {Count} layers: {Paths}", adapterName, config.PeftType, plan.Layers.Count,
            string.Join(", ", plan.Layers.Select(l => $"{l.Target.Path} ({l.Attachment})")));
        foreach (var warning in plan.Warnings) Warn(adapterName, warning);
        plan.Builder.LogSummary(logger);
        if (plan.ModulesToSave.Count > 0)
            logger.LogInformation("Adapter '{Adapter}' trains in full and saves: {Paths}", adapterName, string.Join(", ", plan.ModulesToSave.Select(m => m.Path)));

        SetAdapter(first ? adapterName : ActiveAdapter!);
        logger.LogInformation("{Summary}", GetParameterSummary());
        // Passes inside DisableAdapters() prove nothing about the adapters, and in a mixed-adapter batch the
        // active adapter may not run at all, so neither is counted for it.
        // Nor is the probe's pass: its report speaks for it.
        watcher ??= ForwardPassWatcher.Install(Model, () => sites,
            () => probing || AdaptersDisabled || sites.Any(s => s.PerSample is not null) ? null : ActiveAdapter, Warn);
    }

    /// <summary>
    /// Makes adapter <paramref name="adapterName"/> the one that runs and trains (PEFT's <c>set_adapter</c>):
    /// its parameters and modules to save require gradients (unless it was loaded for inference), every
    /// other adapter's do not. Cheap: nothing is re-injected.
    /// </summary>
    public void SetAdapter(string adapterName)
    {
        ThrowIfUnloaded();
        if (!configs.ContainsKey(adapterName)) throw new ArgumentException($"No adapter named '{adapterName}'; the model has {string.Join(", ", configs.Keys)}.", nameof(adapterName));
        if (sites.Any(s => s.ActiveLayer?.Merged == true)) throw new InvalidOperationException("Unmerge before switching adapters.");
        ActiveAdapter = adapterName;
        foreach (var site in sites)
        {
            site.ActiveAdapter = site.Adapters.ContainsKey(adapterName) ? adapterName : null;
            site.Disabled = AdaptersDisabled;
            foreach (var (name, layer) in site.Adapters)
            {
                bool trainable = name == adapterName && !configs[name].InferenceMode;
                foreach (var p in layer.parameters()) p.requires_grad = trainable;
            }
        }
        foreach (var m in modulesToSave)
        {
            m.Show(AdaptersDisabled ? null : adapterName);
            bool trainable = m.Owners.Contains(adapterName) && !configs[adapterName].InferenceMode;
            foreach (var p in m.Module.parameters()) p.requires_grad = trainable;
        }
    }

    /// <summary>
    /// Removes adapter <paramref name="adapterName"/> (PEFT's <c>delete_adapter</c>). Layers left with
    /// no adapter get their original Linear back. If it was active, the first remaining adapter becomes active.
    /// </summary>
    public void DeleteAdapter(string adapterName)
    {
        ThrowIfUnloaded();
        if (!configs.Remove(adapterName)) throw new ArgumentException($"No adapter named '{adapterName}'.", nameof(adapterName));
        watcher?.Forget(adapterName);
        foreach (var site in sites.ToList())
        {
            site.Remove(adapterName);
            if (site.Adapters.Count == 0)
            {
                site.Detach();
                sites.Remove(site);
            }
        }
        foreach (var m in modulesToSave.ToList())
        {
            m.RemoveOwner(adapterName);
            if (m.Owners.Count == 0)
            {
                foreach (var p in m.Module.parameters()) p.requires_grad = false;
                m.Forget();
                modulesToSave.Remove(m);
            }
        }
        if (ActiveAdapter == adapterName)
        {
            ActiveAdapter = null;
            if (configs.Count > 0) SetAdapter(configs.Keys.First());
        }
        if (configs.Count == 0)
        {
            // The last adapter is gone: the model is the base model again, trainable as it was.
            watcher?.Dispose();
            watcher = null;
            RestoreRequiresGrad();
            originalRequiresGrad.Clear();
        }
    }

    private void RestoreRequiresGrad()
    {
        foreach (var (name, p) in Model.named_parameters())
        {
            if (originalRequiresGrad.TryGetValue(name, out bool requiresGrad)) p.requires_grad = requiresGrad;
        }
    }

    /// <summary>
    /// Turns every adapter off until the returned scope is disposed: inside it, the model computes
    /// exactly what the base model computes (modules to save run their original values). The scope is
    /// model-wide: it covers every adapter and every layer, including adapters added or switched to
    /// inside it. Scopes nest and may be disposed in any order: adapters run again when the last open
    /// scope is disposed. Merged adapters are unmerged first, as PEFT does on a disabled forward (the base
    /// output needs the base weights back); they stay unmerged after the scope.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        ThrowIfUnloaded();
        Unmerge();
        openDisableScopes++;
        ShowDisabledState();
        return new Restore(() =>
        {
            openDisableScopes--;
            if (!unloaded) ShowDisabledState();
        });
    }

    // True while a DisableAdapters() scope is open.
    private bool AdaptersDisabled => openDisableScopes > 0;

    // Puts every site and module to save in the state the open scopes ask for: a count of scopes, not a
    // saved list of flags, so scopes disposed out of order and adapters added inside one come out right.
    private void ShowDisabledState()
    {
        foreach (var s in sites) s.Disabled = AdaptersDisabled;
        foreach (var m in modulesToSave) m.Show(AdaptersDisabled ? null : ActiveAdapter);
    }

    /// <summary>Folds the active adapter into the base weights (LoRA). Forward then costs what the base model costs.</summary>
    /// <exception cref="NotSupportedException">An adapter cannot be merged (Lily), or a layer's weight is shared (tied) with another module; nothing is changed.</exception>
    /// <exception cref="InvalidOperationException">Inside <see cref="DisableAdapters"/>: the scope promises the base output.</exception>
    public void Merge()
    {
        ThrowIfUnloaded();
        if (AdaptersDisabled)
            throw new InvalidOperationException("Adapters are disabled (inside DisableAdapters()): merging now would put an update into the base output the scope promises. Merge after the scope.");
        if (sites.FirstOrDefault(s => s.ActiveLayer is { Merged: false } && s.WeightSharedWith.Count > 0) is { } tied)
        {
            throw new NotSupportedException(
                $"Cannot merge '{tied.Path}': its weight is also held as {string.Join(", ", tied.WeightSharedWith)} (tied or shared weights), so " +
                "merging the update into it in place would change that use too. Keep the adapter unmerged, or untie the weights before injection.");
        }
        var blocker = AdaptedModules.FirstOrDefault(a => !a.Layer.CanMerge);
        if (blocker is not null)
        {
            try { blocker.Layer.Merge(); }
            catch (NotSupportedException e) { throw new NotSupportedException($"Cannot merge '{blocker.Path}': {e.Message}", e); }
        }
        foreach (var a in AdaptedModules) a.Layer.Merge();
    }

    /// <summary>Undoes <see cref="Merge"/>, restoring the base weights (up to float rounding).</summary>
    public void Unmerge()
    {
        ThrowIfUnloaded();
        foreach (var site in sites)
            foreach (var layer in site.Adapters.Values.Where(l => l.Merged)) layer.Unmerge();
    }

    /// <summary>
    /// Merges the active adapter, then removes every adapter: the model holds plain Linear layers
    /// whose weights include the update, and its modules to save keep their trained values.
    /// </summary>
    /// <exception cref="NotSupportedException">An adapter cannot be merged (Lily); nothing is changed.</exception>
    public TModel MergeAndUnload()
    {
        Merge();
        return Remove(keepTrainedModules: true);
    }

    /// <summary>
    /// Removes every adapter: each adapted Linear is back in its place with no hook or registration
    /// left, modules to save hold their original values, and every parameter's <c>requires_grad</c> is
    /// what it was before injection. Unmerged updates are dropped. This handle is unusable afterwards.
    /// </summary>
    public TModel Unload() => Remove(keepTrainedModules: false);

    private TModel Remove(bool keepTrainedModules)
    {
        ThrowIfUnloaded();
        watcher?.Dispose();
        foreach (var site in sites) site.Detach();
        foreach (var m in modulesToSave)
        {
            if (keepTrainedModules) m.Forget();
            else m.RestoreOriginal();
        }
        RestoreRequiresGrad();
        unloaded = true;
        return Model;
    }

    /// <summary>
    /// Throws if, in the passes since the last call that passed (or since the adapter was added or
    /// loaded), a layer of any adapter took no part in the model's output although the model ran while
    /// that adapter was active, or a replaced layer's original ran outside its adapter. Took part means:
    /// its update was added to the layer's output through the wrapper or hook. A gradient on its
    /// parameters does not count (a penalty on the parameters gives one without the output), nor does a
    /// merge, nor <see cref="ProbeAdapters"/> (its report speaks for its own pass). The model ran means: a
    /// forward pass through the root's <c>call()</c>, or any of that evidence for another layer, or a module
    /// to save received a gradient. For an adapter being trained, a layer whose update was applied but that
    /// no backward pass reached, while backward passes reached the adapter's other layers, is reported as
    /// never learning (computed under <c>no_grad</c>, or detached downstream). When it passes, the evidence starts afresh, so each call speaks for
    /// the passes since the previous one. Call it after <c>backward()</c> to check a training setup;
    /// <see cref="Save"/> calls it. A model that has not run since is not reported (nothing can be told); a
    /// layer that no data reached in those passes (an expert that received no tokens) is, with both
    /// possible causes.
    /// </summary>
    /// <exception cref="InvalidOperationException">Adapters that do nothing; the message names the layers, the causes and the fixes.</exception>
    public void VerifyAdaptersApplied()
    {
        ThrowIfUnloaded();
        foreach (var name in configs.Keys)
        {
            var evidence = new AdapterParticipation.ModelEvidence(
                watcher?.PassesWhile(name) ?? 0,
                name == ActiveAdapter && ModulesToSaveOf(name).Any(m => m.ReceivedGradient()),
                !configs[name].InferenceMode);
            if (AdapterParticipation.Describe(name, sites, evidence) is string message) throw new InvalidOperationException(message);
        }
        foreach (var name in configs.Keys)
        {
            watcher?.Reset(name);
            foreach (var site in sites) site.ResetEvidence(name);
        }
        foreach (var m in modulesToSave) m.ResetGradientEvidence();
    }

    /// <summary>
    /// Runs <paramref name="run"/> (your own forward, called however your model is called) once and
    /// reports, for each layer of the active adapter, whether its adapter reaches the output
    /// (<see cref="ProbeOutcome.Applied"/>), whether the layer ran without it
    /// (<see cref="ProbeOutcome.Bypassed"/>), or whether it did not run for this input
    /// (<see cref="ProbeOutcome.NotReached"/>). The output is unchanged and no parameter or gradient is
    /// touched (autograd is asked which tensors the output depends on). The probe's pass is no evidence for
    /// <see cref="VerifyAdaptersApplied()"/>: it says nothing about the passes after it. The run function must keep gradient
    /// recording on (the probe turns it on around the call) and return a tensor computed by the model.
    /// </summary>
    /// <param name="run">Runs the model on an input and returns its output, e.g. <c>() =&gt; model.forward(x)</c>.</param>
    /// <exception cref="InvalidOperationException">No adapter is active, adapters are disabled, or the output does not depend on the model.</exception>
    public AdapterProbeReport ProbeAdapters(Func<Tensor> run)
    {
        ThrowIfUnloaded();
        ArgumentNullException.ThrowIfNull(run);
        var adapter = ActiveAdapter ?? throw new InvalidOperationException("No adapter is active.");
        probing = true;
        try
        {
            return AdapterProbe.Run(sites, adapter, run);
        }
        finally
        {
            probing = false;
        }
    }

    /// <summary>
    /// <see cref="ProbeAdapters"/>, then throws if any layer ran without its adapter. Call it once after
    /// <see cref="PeftModel.Load{TModel}"/> for inference (or after <see cref="PeftModel.Create{TModel}"/>),
    /// with the forward you will use: it works however the model is called. Layers that did not run for
    /// this input are not an error; they are listed in the report and logged as a warning.
    /// </summary>
    /// <param name="run">Runs the model on an input and returns its output, e.g. <c>() =&gt; model.forward(x)</c>.</param>
    /// <returns>The probe's report.</returns>
    /// <exception cref="InvalidOperationException">Layers ran without their adapter; the message names them and the fix.</exception>
    public AdapterProbeReport VerifyAdaptersApplied(Func<Tensor> run)
    {
        var report = ProbeAdapters(run);
        if (report.Bypassed.Count > 0)
        {
            throw new InvalidOperationException(
                $"Adapter '{report.Adapter}' is bypassed on {string.Join(", ", report.Bypassed.Select(l => $"{l.Path} ({l.Attachment.ToString().ToLowerInvariant()})"))}: " +
                "these layers ran, but without their adapter, so it does nothing there. The model calls forward() on a hooked layer (TorchSharp " +
                "runs hooks only through call()), runs the original Linear from a list, delegate or record made before injection, or uses the " +
                "layer's weight directly (functional.linear). Fix: call the layer with .call(x), or hold it in a field typed Module<Tensor, Tensor> " +
                "so the adapter can take its place.");
        }
        if (report.NotReached.Count > 0)
            Warn(report.Adapter, $"the layers {string.Join(", ", report.NotReached.Select(l => l.Path))} did not run for the probe's input (a branch not taken, an expert with no tokens?).");
        return report;
    }

    /// <summary>
    /// Every finding this model has warned about, oldest first, each as <c>Adapter '&lt;name&gt;': &lt;finding&gt;</c>:
    /// a target entry that matches nothing while others match, a rank above a layer's min(in, out), layers idle in
    /// the first forward pass, layers the probe's input did not reach, keys a non-strict load skipped. Each is
    /// also logged as a warning when a logger factory was given; this list is there without one.
    /// </summary>
    public IReadOnlyList<string> Warnings
    {
        get
        {
            lock (warnings) return warnings.ToList();
        }
    }

    // The one way this model warns: kept in Warnings (visible without a logger) and logged.
    internal void Warn(string adapterName, string finding)
    {
        var line = $"Adapter '{adapterName}': {finding}";
        lock (warnings) warnings.Add(line);
        logger.LogWarning("{Warning}", line);
    }

    internal IReadOnlyList<AdaptedModule> LayersOf(string adapterName) =>
        sites.Where(s => s.Adapters.ContainsKey(adapterName)).Select(s => new AdaptedModule(s.Path, s.Adapters[adapterName], s.Attachment)).ToList();

    internal IReadOnlyList<ModuleToSave> ModulesToSaveOf(string adapterName) => modulesToSave.Where(m => m.Owners.Contains(adapterName)).ToList();

    internal ILoggerFactory LoggerFactory => loggerFactory;

    internal void ThrowIfUnloaded()
    {
        if (unloaded) throw new InvalidOperationException("The adapters were unloaded from this model; create a new PeftModel to adapt it again.");
    }

    /// <summary>
    /// The longest adapter name: it becomes a folder name, and the files the save protocol writes inside need room
    /// under the usual 255-byte limit of a name.
    /// </summary>
    public const int MaxAdapterNameLength = 100;

    private static void ValidateName(string adapterName)
    {
        ArgumentException.ThrowIfNullOrEmpty(adapterName);
        if (adapterName.Length > MaxAdapterNameLength)
            throw new ArgumentException($"Adapter name '{adapterName[..20]}…' is {adapterName.Length} characters; at most {MaxAdapterNameLength} are allowed (it becomes a folder name).", nameof(adapterName));
        if (!adapterName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw new ArgumentException($"Adapter name '{adapterName}' may hold only letters, digits, '_' and '-' (it becomes a module name and a folder name).", nameof(adapterName));
    }

    private sealed class Restore(Action action) : IDisposable
    {
        private Action? action = action;

        public void Dispose()
        {
            action?.Invoke();
            action = null;
        }
    }
}
