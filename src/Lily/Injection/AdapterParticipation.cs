namespace Lily;

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
/// then is a layer that never took part reported: before the model has run, nothing can be told.
/// </summary>
internal static class AdapterParticipation
{
    /// <summary>Evidence that the model ran while an adapter was active, gathered outside the sites.</summary>
    /// <param name="RootPasses">Forward passes through the root's <c>call()</c>.</param>
    /// <param name="ModulesToSaveTrained">A module the adapter trains in full received a gradient.</param>
    public readonly record struct ModelEvidence(long RootPasses, bool ModulesToSaveTrained);

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

        var lines = new List<string>();
        foreach (var site in mine)
        {
            long bypasses = site.BypassesWhile(adapterName);
            if (bypasses > 0)
                lines.Add($"  {site.Path} (replaced): the original Linear ran {bypasses} time(s) through call() outside its adapter; something made before injection still holds it (a list, a delegate, a record)");
            else if (!tookPart[site])
                lines.Add($"  {site.Path} ({(site.Attachment == AdapterAttachment.Hook ? "hooked" : "replaced")}): its adapter never took part in the output since the last check");
        }
        if (lines.Count == 0) return null;
        return $"Adapter '{adapterName}' is not applied on {lines.Count} layer(s) although the model has run since the last check (the last Save or VerifyAdaptersApplied() that passed, or since the adapter was added or loaded: {string.Join("; ", why)}):" + Environment.NewLine +
               string.Join(Environment.NewLine, lines) + Environment.NewLine +
               "Such an adapter would be trained and saved while doing nothing. Possible causes: (1) the model bypasses the adapter: it calls " +
               "forward() on a hooked layer (TorchSharp runs hooks only through call()), runs the original Linear from a list, delegate or " +
               "record made before injection, or uses the layer's weight directly (functional.linear); (2) no data reached the layer (a branch " +
               "not taken, a mixture-of-experts expert that received no tokens in these passes: check less often, after more data). To tell which, call " +
               "peft.VerifyAdaptersApplied(() => model.forward(x)) with an input that reaches them: it names the layers that ran without " +
               "their adapter. Fix (1): call the layer with .call(x), or hold it in a field typed Module<Tensor, Tensor> so the adapter can " +
               "take its place. For (2): leave such layers out (exclude_modules), or save anyway with Save(directory, verifyApplied: false).";
    }

    // Whether each site of the adapter took part: its update was added to the layer's output.
    private static Dictionary<AdapterSite, bool> TookPart(string adapterName, List<AdapterSite> mine) =>
        mine.ToDictionary(s => s, s => s.Applied(adapterName));
}
