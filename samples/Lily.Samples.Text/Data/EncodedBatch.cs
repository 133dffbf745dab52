using TorchSharp;

namespace Lily.Samples.Text.Data;

/// <summary>A tokenized batch: three int64 tensors of shape [batch, maxLength]. Disposing it disposes them.</summary>
/// <param name="InputIds">Word-piece ids: [CLS] … [SEP] then [PAD] (0).</param>
/// <param name="AttentionMask">1 for real tokens (including [CLS] and [SEP]), 0 for padding.</param>
/// <param name="TokenTypeIds">All 0 (single-segment input).</param>
public sealed record EncodedBatch(torch.Tensor InputIds, torch.Tensor AttentionMask, torch.Tensor TokenTypeIds) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        TokenTypeIds.Dispose();
    }
}
