using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>The pooling functions that need no parameters (<see cref="Pooling.Mean"/>, <see cref="Pooling.Cls"/>).</summary>
public static class BertPooling
{
    /// <summary>Mean of the hidden states of the real tokens (sentence-transformers' mean pooling).</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <param name="attentionMask"><c>[B, T]</c>, 1 for tokens and 0 for padding (any dtype); <see langword="null"/> for all tokens.</param>
    /// <returns><c>[B, H]</c> in the hidden states' dtype.</returns>
    public static Tensor Mean(Tensor hiddenStates, Tensor? attentionMask)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        if (attentionMask is null) return hiddenStates.mean([1]);
        using var scope = NewDisposeScope();
        var weights = attentionMask.to(hiddenStates.dtype).unsqueeze(-1);
        // The clamp keeps an all-padding row at 0 instead of 0/0, as sentence-transformers does.
        var counts = weights.sum(1).clamp_min(1e-9);
        return ((hiddenStates * weights).sum(1) / counts).MoveToOuterDisposeScope();
    }

    /// <summary>The first token's hidden state.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <returns><c>[B, H]</c>.</returns>
    public static Tensor Cls(Tensor hiddenStates)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        return hiddenStates.select(1, 0);
    }
}
