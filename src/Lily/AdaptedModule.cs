namespace Lily;

/// <summary>An adapter layer and where it sits in the model.</summary>
/// <param name="Path">The module's full dotted path, e.g. <c>blocks.0.attn.q_proj</c>.</param>
/// <param name="Parent">The module that holds it.</param>
/// <param name="Name">Its name inside <paramref name="Parent"/>.</param>
/// <param name="Layer">The adapter layer, which wraps the original Linear.</param>
public sealed record AdaptedModule(string Path, torch.nn.Module Parent, string Name, AdapterLinear Layer);
