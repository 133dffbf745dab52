using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>Hugging Face's <c>BertIntermediate</c>: the feed-forward up-projection and its activation (<c>hidden_act</c>).</summary>
public sealed class BertIntermediate : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are Hugging Face's parameter names.
    private readonly Linear dense;
#pragma warning restore IDE1006

    /// <summary>Creates the up-projection of <paramref name="config"/>.</summary>
    /// <param name="config">The encoder's shape; <see cref="BertConfig.HiddenAct"/> picks the activation.</param>
    /// <param name="device">Where the parameters live (CPU when null).</param>
    /// <param name="dtype">dtype of the parameters (float32 when null).</param>
    public BertIntermediate(BertConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(BertIntermediate))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Activation = config.HiddenAct;
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The activation's Hugging Face name.</summary>
    public string Activation { get; }

    /// <summary>Projects up and activates.</summary>
    /// <param name="hiddenStates"><c>[B, T, H]</c>.</param>
    /// <returns><c>[B, T, intermediate]</c>.</returns>
    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        return Activate(dense.call(hiddenStates), Activation).MoveToOuterDisposeScope();
    }

    /// <summary>Applies a <c>hidden_act</c> activation the way <c>transformers</c> computes it.</summary>
    /// <param name="x">The input.</param>
    /// <param name="name"><c>gelu</c> (exact, erf), <c>gelu_new</c> / <c>gelu_pytorch_tanh</c> (tanh approximation) or <c>relu</c>.</param>
    /// <returns>A new tensor.</returns>
    public static Tensor Activate(Tensor x, string name)
    {
        ArgumentNullException.ThrowIfNull(x);
        return name switch
        {
            "gelu" => nn.functional.gelu(x),
            // transformers' NewGELUActivation; gelu_pytorch_tanh is the same formula computed by one kernel.
            "gelu_new" or "gelu_pytorch_tanh" => TanhGelu(x),
            "relu" => nn.functional.relu(x),
            _ => throw new ArgumentException($"hidden_act '{name}' is not supported (supported: {string.Join(", ", BertConfig.SupportedActivations)}).", nameof(name)),
        };
    }

    private static Tensor TanhGelu(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inner = (x + 0.044715 * x.pow(3)) * Math.Sqrt(2.0 / Math.PI);
        return (0.5 * x * (1.0 + inner.tanh())).MoveToOuterDisposeScope();
    }
}
