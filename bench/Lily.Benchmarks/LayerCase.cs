using System.Globalization;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>What a benchmarked Linear layer carries.</summary>
public enum Adapter
{
    /// <summary>The frozen Linear alone, no adapter: the baseline.</summary>
    Frozen,

    /// <summary>LoRA, r = 8, alpha = 8 (scaling 1).</summary>
    Lora,

    /// <summary>Lily at the matched rank, batch-mean routing (PEFT's).</summary>
    LilyBatchMean,

    /// <summary>Lily at the matched rank, per-sample routing (the paper's formula).</summary>
    LilyPerSample,

    /// <summary>Lily at the matched rank, per-token routing.</summary>
    LilyPerToken,
}

/// <summary>Input shape <c>[batch, tokens, d]</c> of a layer benchmark; the Linear is square, d → d.</summary>
/// <param name="Batch">Samples.</param>
/// <param name="Tokens">Tokens per sample.</param>
/// <param name="Dim">Features in and out.</param>
public readonly record struct LayerShape(long Batch, long Tokens, long Dim)
{
    /// <summary>Rows the Linear multiplies: batch · tokens.</summary>
    public long Rows => Batch * Tokens;

    /// <summary>Parses <c>8x197x768</c>.</summary>
    public static LayerShape Parse(string text)
    {
        var parts = text.Split('x').Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        if (parts.Length != 3) throw new FormatException($"A shape is BATCHxTOKENSxDIM, not '{text}'.");
        return new LayerShape(parts[0], parts[1], parts[2]);
    }

    /// <inheritdoc />
    public override string ToString() => FormattableString.Invariant($"{Batch}x{Tokens}x{Dim}");
}

/// <summary>
/// One layer under test with its input and upstream gradient: everything a layer benchmark
/// iteration needs. Dispose it to free the tensors.
/// </summary>
public sealed class LayerCase : IDisposable
{
    private readonly Tensor[] upstream;

    private LayerCase(nn.Module<Tensor, Tensor> layer, IReadOnlyList<Parameter> trainable, Tensor input, Tensor gradient, int rank)
    {
        Layer = layer;
        Trainable = trainable;
        Input = input;
        upstream = [gradient];
        Rank = rank;
    }

    /// <summary>The layer.</summary>
    public nn.Module<Tensor, Tensor> Layer { get; }

    /// <summary>Its trainable parameters (none for the frozen layer).</summary>
    public IReadOnlyList<Parameter> Trainable { get; }

    /// <summary>The input <c>[batch, tokens, d]</c>; it requires grad, as the input of a layer inside a network does.</summary>
    public Tensor Input { get; }

    /// <summary>The adapter's rank (0 for the frozen layer).</summary>
    public int Rank { get; }

    /// <summary>The rank Lily gets on a d → d target so that a <see cref="Budget.StackDepth"/>-layer stack matches LoRA r = 8 (the library's planner and matcher).</summary>
    public static int LilyRank(long dim) => Budget.StackLilyRank(dim);

    /// <summary>Builds the layer and tensors for <paramref name="adapter"/> on <paramref name="shape"/>, seeded so every run sees the same numbers.</summary>
    public static LayerCase Create(Adapter adapter, LayerShape shape, Device device)
    {
        manual_seed(1234);
        long d = shape.Dim;
        var baseLayer = nn.Linear(d, d, device: device);
        foreach (var p in baseLayer.parameters()) p.requires_grad = false;

        nn.Module<Tensor, Tensor> layer;
        int rank;
        switch (adapter)
        {
            case Adapter.Frozen:
                layer = baseLayer;
                rank = 0;
                break;
            case Adapter.Lora:
                rank = Budget.LoraRank;
                var lora = new LoraLinear(baseLayer, rank, scaling: 1.0, dropout: 0, LoraInit.KaimingUniform, ScalarType.Float32);
                Randomize(lora.LoraB.weight!);
                layer = lora;
                break;
            default:
                rank = LilyRank(d);
                var a = nn.Linear(d, rank, hasBias: false, device: device);
                var pool = new LilyExpertPool(Budget.Experts, rank, d, device, ScalarType.Float32);
                Randomize(pool.Weight);
                layer = new LilyLinear(baseLayer, a, pool, scaling: 1.0, RoutingOf(adapter));
                break;
        }

        // B starts at zero in both methods; give it values so no path is trivially zero.
        var input = randn([shape.Batch, shape.Tokens, d], device: device).requires_grad_(true);
        var gradient = randn([shape.Batch, shape.Tokens, d], device: device);
        var trainable = layer.parameters().Where(p => p.requires_grad).Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>().ToList();
        return new LayerCase(layer, trainable, input, gradient, rank);
    }

    /// <summary>The routing mode of a Lily adapter.</summary>
    public static LilyRouting RoutingOf(Adapter adapter) => adapter switch
    {
        Adapter.LilyBatchMean => LilyRouting.BatchMean,
        Adapter.LilyPerSample => LilyRouting.PerSample,
        Adapter.LilyPerToken => LilyRouting.PerToken,
        _ => throw new ArgumentOutOfRangeException(nameof(adapter), adapter, "Not a Lily adapter."),
    };

    /// <summary>Inference forward: no autograd graph is recorded.</summary>
    public void Forward()
    {
        using var scope = NewDisposeScope();
        using (no_grad())
            Layer.call(Input);
        BenchOptions.Current.Synchronize();
    }

    /// <summary>
    /// One training pass: grads cleared (set to none, as PyTorch's <c>zero_grad()</c> does by
    /// default), forward with autograd, backward of a fixed upstream gradient into the input and the
    /// adapter's parameters.
    /// </summary>
    public void ForwardBackward()
    {
        using var scope = NewDisposeScope();
        ClearGradients();
        Layer.call(Input).backward(upstream);
        BenchOptions.Current.Synchronize();
    }

    /// <summary>Sets the gradients of the input and the adapter's parameters to none.</summary>
    public void ClearGradients()
    {
        foreach (var p in Trainable) p.grad = null;
        Input.grad = null;
    }

    /// <summary>
    /// The adapter's multiply-adds per token as a share of the frozen layer's, for the forward pass
    /// alone or for forward and backward.
    /// </summary>
    /// <remarks>
    /// <para>Forward: the frozen layer does <c>d_in·d_out</c>. LoRA adds <c>r(d_in + d_out)</c>; Lily adds
    /// the same plus its router's <c>r·E</c> (the formula), plus what the routing mode adds:
    /// the pool mix <c>E·r·d_out</c> once per batch (batch-mean) or per sample (per-sample), and in
    /// per-token mode an E-times-wider up-projection (<c>E·r·d_out</c> instead of <c>r·d_out</c>).</para>
    /// <para>Forward and backward: the frozen layer adds only the input gradient (its weight gets none):
    /// <c>2·d_in·d_out</c>. Every adapter product is done three times (forward, and the two gradients
    /// of backward), so each term above is counted three times.</para>
    /// </remarks>
    public static double FlopShare(Adapter adapter, LayerShape shape, bool withBackward = false)
    {
        double d = shape.Dim, dd = d * d, e = Budget.Experts;
        double perToken;
        switch (adapter)
        {
            case Adapter.Frozen:
                return 0;
            case Adapter.Lora:
                perToken = Budget.LoraRank * 2 * d;
                break;
            default:
                double r = LilyRank(shape.Dim);
                perToken = adapter switch
                {
                    Adapter.LilyBatchMean => r * d + r * e + r * d + e * r * d / shape.Rows,
                    Adapter.LilyPerSample => r * d + r * e + r * d + e * r * d * shape.Batch / shape.Rows,
                    _ => r * d + r * e + e * r * d,
                };
                break;
        }
        return withBackward ? 3 * perToken / (2 * dd) : perToken / dd;
    }

    /// <summary>
    /// Trainable parameters this layer stands for in a <see cref="Budget.StackDepth"/>-layer stack:
    /// LoRA's own A and B; Lily's A, router and 1/L of the shared pool (from the stack's plan).
    /// </summary>
    public static double ParameterShare(Adapter adapter, long dim) => adapter switch
    {
        Adapter.Frozen => 0,
        Adapter.Lora => Budget.StackLayerShare(dim, lily: false),
        _ => Budget.StackLayerShare(dim, lily: true),
    };

    private static void Randomize(Tensor weight)
    {
        using var scope = NewDisposeScope();
        using (no_grad())
            weight.copy_(randn_like(weight).mul_(0.01));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Layer.Dispose();
        Input.Dispose();
        upstream[0].Dispose();
    }
}
