namespace Lily.Injection;

/// <summary>What the inference probe (<see cref="PeftModel{TModel}.ProbeAdapters"/>) found for one adapted layer.</summary>
public enum ProbeOutcome
{
    /// <summary>The layer ran through its adapter and its output reaches the model's output (or the update is merged into its weights).</summary>
    Applied,

    /// <summary>
    /// The layer's weight reaches the model's output but its adapter does not: the model ran the layer
    /// without the adapter (<c>forward()</c> on a hooked layer, the original Linear kept in a list,
    /// delegate or record, or its weight used directly). The adapter does nothing there.
    /// </summary>
    Bypassed,

    /// <summary>Neither the layer nor its adapter reaches the output for this input: a branch not taken, an expert that received no tokens.</summary>
    NotReached,
}
