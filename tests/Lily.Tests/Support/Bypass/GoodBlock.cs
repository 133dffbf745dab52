using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>An ordinary block: <c>x + good(x)</c>, <c>good</c> a <c>Linear</c> field called through <c>call()</c>.</summary>
public sealed class GoodBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear good;

    /// <summary>Creates the block.</summary>
    public GoodBlock(long dim) : base(nameof(GoodBlock))
    {
        good = nn.Linear(dim, dim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => x + good.call(x);
}
