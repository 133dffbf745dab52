using static TorchSharp.torch;

namespace Lily.Benchmarks;

/// <summary>Sizes of <see cref="TinyVit"/>: ViT-Tiny's width and MLP, fewer blocks, 32×32 images in 4×4 patches.</summary>
public static class TinyVitSize
{
    /// <summary>Model width d.</summary>
    public const int Dim = 192;

    /// <summary>Attention heads.</summary>
    public const int Heads = 3;

    /// <summary>MLP hidden width (4d).</summary>
    public const int Hidden = 4 * Dim;

    /// <summary>Transformer blocks.</summary>
    public const int Depth = 4;

    /// <summary>Patches per image (8×8); the class token makes 65 tokens.</summary>
    public const int Patches = 64;

    /// <summary>Values per patch (4×4×3).</summary>
    public const int PatchDim = 48;

    /// <summary>Images per batch.</summary>
    public const int Batch = 16;

    /// <summary>Classes of the head.</summary>
    public const int Classes = 10;

    /// <summary>The adapted Linear layers, by target type, as Lily groups them.</summary>
    public static IReadOnlyList<TargetGroup> Targets { get; } =
    [
        new(Dim, Dim, Depth), new(Dim, Dim, Depth), new(Dim, Dim, Depth), new(Dim, Dim, Depth), // q, k, v, o
        new(Dim, Hidden, Depth),                                                                // fc1
        new(Hidden, Dim, Depth),                                                                // fc2
    ];

    /// <summary>Names of the adapted modules.</summary>
    public static IReadOnlyList<string> TargetModules { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"];
}

/// <summary>A pre-norm transformer block: attention with q/k/v/o projections, then a GELU MLP.</summary>
public sealed class VitBlock : nn.Module<Tensor, Tensor>
{
    private readonly int heads;
    private nn.Module<Tensor, Tensor> norm1;
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> k_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> o_proj;
    private nn.Module<Tensor, Tensor> norm2;
    private nn.Module<Tensor, Tensor> fc1;
    private nn.Module<Tensor, Tensor> fc2;

    /// <summary>Creates a block of width <paramref name="dim"/>.</summary>
    public VitBlock(long dim, int heads, long hidden, Device device) : base(nameof(VitBlock))
    {
        this.heads = heads;
        norm1 = nn.LayerNorm(dim, device: device);
        q_proj = nn.Linear(dim, dim, device: device);
        k_proj = nn.Linear(dim, dim, device: device);
        v_proj = nn.Linear(dim, dim, device: device);
        o_proj = nn.Linear(dim, dim, device: device);
        norm2 = nn.LayerNorm(dim, device: device);
        fc1 = nn.Linear(dim, hidden, device: device);
        fc2 = nn.Linear(hidden, dim, device: device);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var h = norm1.call(x);
        Tensor Heads(Tensor y) => y.view(b, t, heads, d / heads).transpose(1, 2);
        var attention = nn.functional.scaled_dot_product_attention(Heads(q_proj.call(h)), Heads(k_proj.call(h)), Heads(v_proj.call(h)));
        x = x + o_proj.call(attention.transpose(1, 2).reshape(b, t, d));
        x = x + fc2.call(nn.functional.gelu(fc1.call(norm2.call(x))));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>A minimal ViT: patch embedding, class token, positions, pre-norm blocks, final norm, linear head on the class token.</summary>
public sealed class TinyVit : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> patch_embed;
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;
    private readonly ModuleList<VitBlock> blocks;
    private nn.Module<Tensor, Tensor> norm;
    private nn.Module<Tensor, Tensor> head;

    /// <summary>Creates the model with <see cref="TinyVitSize"/>'s sizes.</summary>
    public TinyVit(Device device) : base(nameof(TinyVit))
    {
        patch_embed = nn.Linear(TinyVitSize.PatchDim, TinyVitSize.Dim, device: device);
        cls_token = new Parameter(randn([1, 1, TinyVitSize.Dim], device: device).mul_(0.02));
        pos_embed = new Parameter(randn([1, TinyVitSize.Patches + 1, TinyVitSize.Dim], device: device).mul_(0.02));
        blocks = nn.ModuleList(Enumerable.Range(0, TinyVitSize.Depth)
            .Select(_ => new VitBlock(TinyVitSize.Dim, TinyVitSize.Heads, TinyVitSize.Hidden, device)).ToArray());
        norm = nn.LayerNorm(TinyVitSize.Dim, device: device);
        head = nn.Linear(TinyVitSize.Dim, TinyVitSize.Classes, device: device);
        RegisterComponents();
    }

    /// <summary>Patches <c>[B, 64, 48]</c> → logits <c>[B, classes]</c>.</summary>
    public override Tensor forward(Tensor patches)
    {
        using var scope = NewDisposeScope();
        var x = patch_embed.call(patches);
        x = cat([cls_token.expand(x.shape[0], -1, -1), x], 1) + pos_embed;
        foreach (var block in blocks) x = block.call(x);
        return head.call(norm.call(x).select(1, 0)).MoveToOuterDisposeScope();
    }
}
