using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Tells, from one run of the user's own forward, which layers of the active adapter reach the
/// model's output through their adapter. Each adapted layer's adapter path adds a zero marker (a
/// scalar that requires gradients) to the layer's output, and each base weight is made to require
/// gradients for the run; autograd then says which markers and which weights the output depends on.
/// A marker reached means the adapter took part; a weight reached without its marker means the layer
/// ran some other way (bypassed); neither means the layer did not run for this input. The output is
/// unchanged (the markers are zero), no parameter's gradient is touched (<c>autograd.grad</c>, not
/// <c>backward</c>), and every flag is restored. It works however the root's forward is called. Its pass
/// is no evidence for <see cref="AdapterParticipation"/>: what it found is in its report, and says nothing
/// about the passes after it.
/// </summary>
internal static class AdapterProbe
{
    /// <summary>Runs <paramref name="run"/> once and classifies each site of adapter <paramref name="adapterName"/>.</summary>
    /// <exception cref="InvalidOperationException">Adapters are disabled, or the output does not depend on the model's adapted layers.</exception>
    public static AdapterProbeReport Run(IReadOnlyList<AdapterSite> sites, string adapterName, Func<Tensor> run)
    {
        var probed = sites.Where(s => s.ActiveAdapter == adapterName && s.ActiveLayer is not null).ToList();
        if (sites.Any(s => s.PerSample is not null))
            throw new InvalidOperationException("A mixed-adapter batch is running (inside UseAdapterPerSample()): probe the active adapter outside that scope.");
        if (probed.Any(s => s.Disabled))
            throw new InvalidOperationException("Adapters are disabled (inside DisableAdapters()): there is nothing to verify. Probe outside that scope.");
        var weights = probed.Select(s => s.BaseLayer.weight!).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToList();
        var required = weights.Select(w => w.requires_grad).ToList();
        using var scope = NewDisposeScope();
        try
        {
            foreach (var site in probed)
            {
                var w = site.BaseLayer.weight!;
                site.ProbeMarker = zeros([], dtype: w.dtype, device: w.device, requires_grad: true);
            }
            foreach (var w in weights) w.requires_grad = true;
            Tensor output;
            using (enable_grad()) output = run() ?? throw new InvalidOperationException("The probe's run function returned null; return the model's output.");
            if (!output.requires_grad)
                throw new InvalidOperationException(
                    "The probe's output does not depend on any adapted layer. Either the run function turns gradient recording off " +
                    "(no_grad or inference_mode inside it: the probe needs autograd, and changes no parameter or gradient), returns " +
                    "something computed without the model (an argmax, a detached copy), or does not run the model.");
            List<Tensor> inputs = [.. probed.Select(s => s.ProbeMarker!), .. weights];
            var grads = autograd.grad([output], inputs, [ones_like(output)], allow_unused: true);
            var reached = grads.Select(g => !g.IsInvalid).ToList();
            var weightReached = weights.Select((w, i) => (w, reached[probed.Count + i])).ToDictionary(p => (object)p.w, p => p.Item2, ReferenceEqualityComparer.Instance);
            // A weight shared by several layers is reached through any of them: reached through another's
            // adapter, it says nothing about this layer.
            var reachedThroughAdapter = new HashSet<object>(probed.Where((_, i) => reached[i]).Select(s => (object)s.BaseLayer.weight!), ReferenceEqualityComparer.Instance);
            var layers = probed.Select((site, i) =>
            {
                var w = site.BaseLayer.weight!;
                var outcome = reached[i] ? ProbeOutcome.Applied
                    : weightReached[w] && !reachedThroughAdapter.Contains(w) ? (site.ActiveLayer!.Merged ? ProbeOutcome.Applied : ProbeOutcome.Bypassed)
                    : ProbeOutcome.NotReached;
                return new ProbedLayer(site.Path, site.Attachment, outcome);
            }).ToList();
            return new AdapterProbeReport(adapterName, layers);
        }
        finally
        {
            foreach (var site in probed) site.ProbeMarker = null;
            for (int i = 0; i < weights.Count; i++) weights[i].requires_grad = required[i];
        }
    }
}
