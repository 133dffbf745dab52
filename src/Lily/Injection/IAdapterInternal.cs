namespace Lily.Injection;

/// <summary>
/// Marks the modules injection adds to a model for its own bookkeeping (adapter containers, the
/// wrapper that replaces a Linear, the device follower), so that walking the model for targets
/// never mistakes an adapter's own Linear layers for the model's.
/// </summary>
internal interface IAdapterInternal;
