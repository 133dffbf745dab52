using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily;

public sealed partial class PeftModel<TModel>
{
    /// <summary>
    /// The active adapter's training terms beyond the task loss: the sum over its layers of what each
    /// declares (<see cref="AdapterLinear.AuxiliaryLoss(AuxiliaryLossContext)"/>), already multiplied by
    /// the weights set in the config (e.g. CLoRA's SADE, weighted by its config's <c>SadeWeight</c>). Add it to
    /// the task loss before <c>backward()</c>: <c>loss = task + peft.AuxiliaryLoss()</c>. A scalar that
    /// records gradients, in the caller's dispose scope; an exact zero (no graph) when the method declares
    /// no term or every weight is zero, so calling it for any method is safe. Work on tensors that several
    /// layers share is done once per call (see <see cref="AuxiliaryLossContext"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">No adapter is active.</exception>
    public Tensor AuxiliaryLoss() => AuxiliaryLoss(new AuxiliaryLossContext());

    /// <summary>
    /// <see cref="AuxiliaryLoss()"/> with a context of the caller's, which afterwards tells how much shared
    /// work was computed and reused (<see cref="AuxiliaryLossContext.Computed"/>,
    /// <see cref="AuxiliaryLossContext.Reused"/>). Its memoised tensors are freed when this call returns;
    /// use a fresh context per call.
    /// </summary>
    /// <param name="context">An empty context for this call.</param>
    /// <exception cref="InvalidOperationException">No adapter is active.</exception>
    /// <exception cref="ArgumentException"><paramref name="context"/> was already used by a call.</exception>
    public Tensor AuxiliaryLoss(AuxiliaryLossContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (ActiveAdapter is null) throw new InvalidOperationException("No adapter is active.");
        context.Claim();
        var layers = AdaptedModules.Select(a => a.Layer).ToList();
        using (var scope = NewDisposeScope())
        {
            // The scope frees the context's shared tensors and the per-layer terms; autograd keeps what backward needs.
            Tensor? total = null;
            foreach (var layer in layers)
            {
                if (layer.AuxiliaryLoss(context) is not { } term) continue;
                total = total is null ? term : total.add(term);
            }
            if (total is not null) return total.MoveToOuterDisposeScope();
        }
        var reference = layers.SelectMany(l => l.AdapterParameters()).FirstOrDefault();
        return reference is null ? zeros(1).squeeze() : zeros([], reference.dtype, reference.device);
    }
}
