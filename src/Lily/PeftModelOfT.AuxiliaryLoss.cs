using static TorchSharp.torch;

namespace Lily;

public sealed partial class PeftModel<TModel>
{
    /// <summary>
    /// The active adapter's training terms beyond the task loss: the sum over its layers of what each
    /// declares (<see cref="AdapterLinear.AuxiliaryLoss"/>), already multiplied by the weights set in
    /// the config (e.g. CLoRA's SADE, <see cref="CLoraConfig.SadeWeight"/>). Add it to the task loss
    /// before <c>backward()</c>: <c>loss = task + peft.AuxiliaryLoss()</c>. A scalar that records
    /// gradients, in the caller's dispose scope; an exact zero (no graph) when the method declares no
    /// term or every weight is zero, so calling it for any method is safe.
    /// </summary>
    /// <exception cref="InvalidOperationException">No adapter is active.</exception>
    public Tensor AuxiliaryLoss()
    {
        if (ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        var layers = AdaptedModules.Select(a => a.Layer).ToList();
        Tensor? total = null;
        foreach (var layer in layers)
        {
            if (layer.AuxiliaryLoss() is not { } term) continue;
            total = total is null ? term : total.add(term);
        }
        if (total is not null) return total;
        var reference = layers.SelectMany(l => l.AdapterParameters()).FirstOrDefault();
        return reference is null ? zeros(1).squeeze() : zeros([], reference.dtype, reference.device);
    }
}
