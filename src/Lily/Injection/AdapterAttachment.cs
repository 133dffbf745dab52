namespace Lily.Injection;

/// <summary>How adapters are attached to a Linear layer of the model.</summary>
public enum AdapterAttachment
{
    /// <summary>
    /// <see cref="Replace"/> where the parent can hold the wrapper (a field typed
    /// <c>Module&lt;Tensor, Tensor&gt;</c>, a <c>ModuleList</c>, <c>ModuleDict</c> or <c>Sequential</c>),
    /// <see cref="Hook"/> everywhere else (a field typed <c>Linear</c>, a plain list, a container subclass),
    /// and wherever the same Linear object is also held somewhere a wrapper cannot reach (registered at
    /// another path, or kept in a list, delegate or record), so that the update applies wherever it runs.
    /// </summary>
    Auto,

    /// <summary>
    /// The Linear's place in its parent is taken by a wrapper that holds it as <c>base_layer</c>,
    /// as PEFT does. Works however the parent calls the layer (<c>call</c> or <c>forward</c>); refused
    /// for a Linear that is also held somewhere else, which would keep running without the adapter.
    /// </summary>
    Replace,

    /// <summary>
    /// The Linear keeps its place; a forward hook adds the update to its output, and the adapter's
    /// modules are registered under it. Hooks fire wherever the object runs, but only when it is called
    /// through <c>call()</c>; an adapter that never fires is reported (see
    /// <see cref="PeftModel{TModel}.VerifyAdaptersApplied()"/> and <see cref="PeftModel{TModel}.ProbeAdapters"/>).
    /// </summary>
    Hook,
}
