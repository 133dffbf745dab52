using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertPooler</c>: <c>tanh(dense(h[:, 0]))</c>, the first token's state projected.</summary>
public sealed class BertPooler : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Linear dense;
#pragma warning restore IDE1006

    /// <summary>Creates the pooler of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertPooler(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertPooler))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Pools a last hidden state.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <returns><c>[B, H]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        using var scope = NewDisposeScope();
        return dense.call(hiddenStates.select(1, 0)).tanh().MoveToOuterDisposeScope();
    }
}
