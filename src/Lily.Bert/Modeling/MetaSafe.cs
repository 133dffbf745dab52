using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// Calls of the two layers whose libtorch kernels have no <c>meta</c> implementation (embedding's <c>index_select</c>,
/// LayerNorm's <c>native_batch_norm</c>): on <c>meta</c> they are computed from ops that have one, giving the same
/// shapes; elsewhere the layer is called normally through <c>call</c>, so hooks fire.
/// </summary>
internal static class MetaSafe
{
    public static Tensor Lookup(Embedding table, Tensor ids) =>
        table.weight!.device_type == DeviceType.META ? table.weight[TensorIndex.Tensor(ids)] : table.call(ids);

    public static Tensor Normalize(LayerNorm norm, Tensor x, double eps)
    {
        if (x.device_type != DeviceType.META) return norm.call(x);
        var mean = x.mean([-1], keepdim: true);
        var variance = (x - mean).square().mean([-1], keepdim: true);
        return (x - mean) / (variance + eps).sqrt() * norm.weight! + norm.bias!;
    }
}
