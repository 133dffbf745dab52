using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>A record holding a layer, as some models keep configuration and modules together.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Label">Anything else the record carries.</param>
public sealed record LayerRecord(nn.Module<Tensor, Tensor> Layer, string Label);
