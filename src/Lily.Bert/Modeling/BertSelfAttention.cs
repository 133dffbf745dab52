using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// Hugging Face's <c>BertSelfAttention</c> (eager): <c>softmax(Q Kᵀ / √d + mask) V</c> over every head.
/// </summary>
/// <remarks><c>query</c>, <c>key</c> and <c>value</c> are plain <see cref="Linear"/> fields and are called through
/// <c>call</c>, so adapters and forward hooks attach to them as to any Linear.</remarks>
public sealed class BertSelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly Dropout dropout;
#pragma warning restore IDE1006

    /// <summary>Creates the projections of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertSelfAttention(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertSelfAttention))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        NumHeads = config.NumAttentionHeads;
        Implementation = config.AttentionImplementation;
        HeadSize = config.HeadSize;
        query = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        key = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        value = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        dropout = nn.Dropout(config.AttentionProbsDropoutProb);
        RegisterComponents();
    }

    /// <summary>Number of heads.</summary>
    public int NumHeads { get; }

    /// <summary>How attention is computed; set from <see cref="BertConfig.AttentionImplementation"/>.</summary>
    public AttentionImplementation Implementation { get; set; }

    /// <summary>Width of one head.</summary>
    public int HeadSize { get; }

    /// <summary>The query projection.</summary>
    public Linear Query => query;

    /// <summary>The key projection.</summary>
    public Linear Key => key;

    /// <summary>The value projection.</summary>
    public Linear Value => value;

    /// <summary>Attends every position to every position.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <param name="additiveMask">Added to the scores: <c>[B, 1, 1, T]</c> (0 for tokens, the dtype's minimum for padding),
    /// as <see cref="BertModel.ExtendedAttentionMask"/> makes it.</param>
    /// <returns>The heads' contexts concatenated, <c>[B, T, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor additiveMask)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        ArgumentNullException.ThrowIfNull(additiveMask);
        using var scope = NewDisposeScope();
        long batch = hiddenStates.shape[0], length = hiddenStates.shape[1];
        Tensor Heads(Tensor x) => x.view(batch, length, NumHeads, HeadSize).transpose(1, 2);

        var q = Heads(query.call(hiddenStates));
        var k = Heads(key.call(hiddenStates));
        var v = Heads(value.call(hiddenStates));
        Tensor attended;
        // libtorch has no meta kernel for the fused attention: on meta (shapes only) the eager path gives the same shapes.
        if (Implementation == AttentionImplementation.Eager || hiddenStates.device_type == DeviceType.META)
        {
            var scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(HeadSize) + additiveMask;
            var probabilities = dropout.call(scores.softmax(-1));
            attended = probabilities.matmul(v);
        }
        else
        {
            attended = nn.functional.scaled_dot_product_attention(q, k, v, additiveMask, training ? dropout.p : 0.0);
        }
        var context = attended.transpose(1, 2).reshape(batch, length, NumHeads * HeadSize);
        return context.MoveToOuterDisposeScope();
    }
}
