using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>
/// Two blocks: <c>blocks.0</c> of a chosen kind (an <see cref="AliasBlock"/>, or a block with a <c>Linear</c>
/// field used in some unusual way) and <c>blocks.1</c>, an ordinary block whose <c>good</c> layer is called
/// through <c>call()</c>, so the model always has one layer whose adapter runs.
/// </summary>
public sealed class BypassModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> blocks;

    /// <summary>Features in and out.</summary>
    public const long Dim = 6;

    /// <summary>Wraps <paramref name="first"/> and an ordinary second block.</summary>
    public BypassModel(nn.Module<Tensor, Tensor> first) : base(nameof(BypassModel))
    {
        blocks = nn.ModuleList(first, new GoodBlock(Dim));
        RegisterComponents();
    }

    /// <summary>The model with an <see cref="AliasBlock"/> first.</summary>
    public static BypassModel WithAlias(AliasStyle style, bool throughForward) => new(new AliasBlock(Dim, style, throughForward));

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        foreach (var block in blocks) x = block.call(x);
        return x;
    }
}
