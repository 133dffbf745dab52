namespace Lily.Injection;

/// <summary>
/// What one run of the inference probe found, per layer of the active adapter
/// (<see cref="PeftModel{TModel}.ProbeAdapters"/>).
/// </summary>
/// <param name="Adapter">The adapter that was probed (the active one).</param>
/// <param name="Layers">Each of its layers, in the model's traversal order.</param>
public sealed record AdapterProbeReport(string Adapter, IReadOnlyList<ProbedLayer> Layers)
{
    /// <summary>Layers whose adapter reached the output.</summary>
    public IReadOnlyList<ProbedLayer> Applied => Of(ProbeOutcome.Applied);

    /// <summary>Layers that ran without their adapter: the adapter does nothing there.</summary>
    public IReadOnlyList<ProbedLayer> Bypassed => Of(ProbeOutcome.Bypassed);

    /// <summary>Layers that did not run for this input.</summary>
    public IReadOnlyList<ProbedLayer> NotReached => Of(ProbeOutcome.NotReached);

    /// <summary>One line per outcome that occurred, naming its layers.</summary>
    public override string ToString()
    {
        var lines = new List<string> { $"Adapter '{Adapter}': {Applied.Count} applied, {Bypassed.Count} bypassed, {NotReached.Count} not reached" };
        foreach (var outcome in Enum.GetValues<ProbeOutcome>())
        {
            var layers = Of(outcome);
            if (layers.Count > 0) lines.Add($"  {outcome}: {string.Join(", ", layers.Select(l => l.Path))}");
        }
        return string.Join(Environment.NewLine, lines);
    }

    private List<ProbedLayer> Of(ProbeOutcome outcome) => Layers.Where(l => l.Outcome == outcome).ToList();
}
