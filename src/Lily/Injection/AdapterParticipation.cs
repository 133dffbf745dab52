namespace Lily.Injection;

/// <summary>
/// Decides, from evidence gathered while the model ran, whether every layer of an adapter took part in
/// the model's output, however the model is called. The evidence covers the passes since the last
/// verdict that passed (or since the adapter was added or loaded), so a layer that took part once and is
/// bypassed from then on is reported at the next verdict. A layer took part when its adapter's update was
/// added to the layer's output (counted by the wrapper or hook) in one of those passes; nothing else
/// counts: a gradient on the adapter's parameters may come from a penalty on the parameters themselves
/// (weight decay as a loss term, CLoRA's SADE) rather than from the output, a merge says nothing about the
/// passes after it, and the inference probe's pass speaks only for itself (its report). The model ran
/// when one of those counts is non-zero for any layer, when the root ran through <c>call()</c>, when a
/// replaced layer's original ran outside its wrapper, or when a module to save received a gradient. Only
/// then is a layer that never took part reported: before the model has run, nothing can be told. For an
/// adapter being trained, a layer that took part but whose update no backward pass reached (counted by
/// <see cref="GradientTap"/>) while backward passes reached its other layers is reported too: it trains nothing.
/// </summary>
internal static class AdapterParticipation
{
    /// <summary>Evidence that the model ran while an adapter was active, gathered outside the sites.</summary>
    /// <param name="RootPasses">Forward passes through the root's <c>call()</c>.</param>
    /// <param name="ModulesToSaveTrained">A module the adapter trains in full received a gradient.</param>
    /// <param name="Trainable">The adapter is trained (not loaded for inference), so an update the loss never reaches is a finding.</param>
    public readonly record struct ModelEvidence(long RootPasses, bool ModulesToSaveTrained, bool Trainable);

    /// <summary>
    /// A message naming adapter <paramref name="adapterName"/>'s layers that never took part although the
    /// model ran (or that ran outside their adapter), with the causes and the fixes; null if there are none.
    /// </summary>
    public static string? Describe(string adapterName, IReadOnlyList<AdapterSite> sites, ModelEvidence evidence)
    {
        var mine = sites.Where(s => s.Adapters.ContainsKey(adapterName)).ToList();
        var tookPart = TookPart(adapterName, mine);
        var bypassed = mine.Where(s => s.BypassesWhile(adapterName) > 0).ToList();
        var why = new List<string>();
        if (evidence.RootPasses > 0) why.Add($"{evidence.RootPasses} forward pass(es) through the model's call()");
        int applied = tookPart.Count(kv => kv.Value);
        if (applied > 0) why.Add($"the adapters of {applied} layer(s) took part");
        if (bypassed.Count > 0) why.Add("original layers ran outside their adapters");
        if (evidence.ModulesToSaveTrained) why.Add("modules to save received gradients");
        if (why.Count == 0) return null;

        // Training ran when a backward pass reached some layer's update; then an update it never reached trains nothing.
        bool trained = evidence.Trainable && mine.Any(s => s.LearnedWhile(adapterName) > 0);
        var lines = new List<string>();
        var untrained = new List<string>();
        foreach (var site in mine)
        {
            long bypasses = site.BypassesWhile(adapterName);
            var mode = site.Attachment == AdapterAttachment.Hook ? "hooked" : "replaced";
            if (bypasses > 0)
                lines.Add($"  {site.Path} (replaced): the original Linear ran {bypasses} time(s) through call() outside its adapter; something made before injection still holds it (a list, a delegate, a record)");
            else if (!tookPart[site])
                lines.Add($"  {site.Path} ({mode}): its adapter never took part in the output since the last check");
            else if (trained && site.LearnedWhile(adapterName) == 0)
                untrained.Add($"  {site.Path} ({mode}): its update was applied, but no backward pass reached it since the last check");
        }
        if (lines.Count == 0 && untrained.Count == 0) return null;
        if (lines.Count == 0)
        {
            return $"Adapter '{adapterName}' is applied but never learns on {untrained.Count} layer(s): backward passes reached its other layers, not these:" + Environment.NewLine +
                   string.Join(Environment.NewLine, untrained) + Environment.NewLine +
                   "Their parameters receive no gradient from the loss, so training leaves them as they are. Causes: the update is computed with " +
                   "gradients off (under no_grad or inference_mode), or the layer's output is detached (detach(), a copy through .data or a " +
                   "non-differentiable step) before it reaches the loss. Fix the model's forward, or save anyway with Save(directory, verifyApplied: false).";
        }
        return $"Adapter '{adapterName}' is not applied on {lines.Count} layer(s) although the model has run since the last check (the last Save or VerifyAdaptersApplied() that passed, or since the adapter was added or loaded: {string.Join("; ", why)}):" + Environment.NewLine +
               string.Join(Environment.NewLine, lines) + Environment.NewLine +
               "Such an adapter would be trained and saved while doing nothing. Possible causes: (1) the model bypasses the adapter: it calls " +
               "forward() on a hooked layer (TorchSharp runs hooks only through call()), runs the original Linear from a list, delegate or " +
               "record made before injection, or uses the layer's weight directly (functional.linear); (2) no data reached the layer (a branch " +
               "not taken, a mixture-of-experts expert that received no tokens in these passes: check less often, after more data). To tell which, call " +
               "peft.VerifyAdaptersApplied(() => model.forward(x)) with an input that reaches them: it names the layers that ran without " +
               "their adapter. Fix (1): call the layer with .call(x), or hold it in a field typed Module<Tensor, Tensor> so the adapter can " +
               "take its place. For (2): leave such layers out (exclude_modules), or save anyway with Save(directory, verifyApplied: false)." +
               (untrained.Count > 0 ? Environment.NewLine + "Also applied but never reached by a backward pass (computed under no_grad, or detached downstream):" + Environment.NewLine + string.Join(Environment.NewLine, untrained) : "");
    }

    // Whether each site of the adapter took part: its update was added to the layer's output.
    private static Dictionary<AdapterSite, bool> TookPart(string adapterName, List<AdapterSite> mine) =>
        mine.ToDictionary(s => s, s => s.Applied(adapterName));
}
