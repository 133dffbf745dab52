using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.FashionMnist;

/// <summary>
/// A small Vision Transformer classifier for 28×28 grey images: patch embedding, a learned
/// <c>[cls]</c> token and position embedding, <c>depth</c> pre-norm <see cref="TransformerBlock"/>s,
/// a final LayerNorm and a Linear <c>head</c> on the <c>[cls]</c> token. Maps
/// <c>[B, C, H, W]</c> to logits <c>[B, numClasses]</c>.
/// </summary>
/// <remarks>
/// Module paths follow the usual PyTorch ViT names, so PEFT target patterns read naturally:
/// <c>patch_embed.proj</c>, <c>blocks.{i}.ln1</c>, <c>blocks.{i}.attn.{q,k,v,o}_proj</c>,
/// <c>blocks.{i}.ln2</c>, <c>blocks.{i}.mlp.fc1</c>, <c>blocks.{i}.mlp.fc2</c>, <c>norm</c>,
/// <c>head</c>; parameters <c>cls_token</c> and <c>pos_embed</c>. No dropout: the sample compares
/// fine-tuning methods, and deterministic forwards make that comparison cleaner.
/// </remarks>
public sealed class VisionTransformer : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> patch_embed;
    private Parameter cls_token;
    private Parameter pos_embed;
    private ModuleList<TransformerBlock> blocks;
    private Module<Tensor, Tensor> norm;
    private Module<Tensor, Tensor> head;

    /// <summary>Creates the model with freshly initialized weights (seed them with <c>torch.manual_seed</c>).</summary>
    /// <param name="imageSize">Height and width of the square input images.</param>
    /// <param name="patchSize">Side of a patch; must divide <paramref name="imageSize"/> (7 gives 16 tokens on 28×28, 4 gives 49).</param>
    /// <param name="dim">Model width.</param>
    /// <param name="depth">Number of transformer blocks.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dim"/>.</param>
    /// <param name="mlpRatio">Feed-forward hidden width as a multiple of <paramref name="dim"/>.</param>
    /// <param name="numClasses">Number of output classes.</param>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="name">The module's name.</param>
    public VisionTransformer(
        int imageSize = 28,
        int patchSize = 7,
        int dim = 64,
        int depth = 4,
        int heads = 4,
        double mlpRatio = 2.0,
        int numClasses = 10,
        int inChannels = 1,
        string name = "vit")
        : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        if (!(mlpRatio > 0)) throw new ArgumentOutOfRangeException(nameof(mlpRatio), mlpRatio, "Must be positive.");

        Dim = dim;
        Depth = depth;
        NumClasses = numClasses;
        int hidden = Math.Max(1, (int)Math.Round(dim * mlpRatio));

        var embedding = new PatchEmbedding(imageSize, patchSize, inChannels, dim);
        NumPatches = embedding.NumPatches;
        patch_embed = embedding;
        cls_token = new Parameter(zeros(1, 1, dim));
        pos_embed = new Parameter(zeros(1, NumPatches + 1, dim));
        // Small random starts, as in the reference ViT; zeros would make all positions alike.
        using (no_grad())
        {
            init.trunc_normal_(cls_token, std: 0.02);
            init.trunc_normal_(pos_embed, std: 0.02);
        }
        blocks = new ModuleList<TransformerBlock>(
            Enumerable.Range(0, depth).Select(_ => new TransformerBlock(dim, heads, hidden)).ToArray());
        norm = LayerNorm(dim);
        head = Linear(dim, numClasses);
        RegisterComponents();
    }

    /// <summary>The model width.</summary>
    public int Dim { get; }

    /// <summary>The number of transformer blocks.</summary>
    public int Depth { get; }

    /// <summary>The number of output classes.</summary>
    public int NumClasses { get; }

    /// <summary>The number of patch tokens per image (the sequence is one longer, for <c>[cls]</c>).</summary>
    public int NumPatches { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = patch_embed.call(input);                                   // [B, N, dim]
        var cls = cls_token.expand(x.shape[0], -1, -1);                    // [B, 1, dim]
        x = cat([cls, x], 1) + pos_embed;                                  // [B, N + 1, dim]
        foreach (var block in blocks) x = block.call(x);
        x = norm.call(x);
        var pooled = x.select(1, 0);                                       // the [cls] token, [B, dim]
        return head.call(pooled).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Draws new weights for the classification head, the usual start for fine-tuning on a new
    /// task: same distribution as a fresh <c>Linear</c> (uniform in ±1/√dim).
    /// </summary>
    /// <param name="generator">Makes the draw reproducible; null uses the global generator.</param>
    /// <exception cref="InvalidOperationException">The head has been replaced by a module without a 2-D weight.</exception>
    public void ResetHead(Generator? generator = null)
    {
        var parameters = head.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (!parameters.TryGetValue("weight", out var weight) || weight.dim() != 2)
        {
            throw new InvalidOperationException($"The head is a {head.GetType().Name} without a 2-D 'weight'; reset it yourself.");
        }
        double bound = 1.0 / Math.Sqrt(weight.shape[1]);
        using (no_grad())
        {
            init.uniform_(weight, -bound, bound, generator);
            if (parameters.TryGetValue("bias", out var bias)) init.uniform_(bias, -bound, bound, generator);
        }
    }
}
