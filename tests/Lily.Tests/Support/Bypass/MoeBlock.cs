using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>
/// A mixture-of-experts block: each token goes to the expert its sign picks (first feature ≥ 0 → expert 0,
/// else expert 1), so an expert that receives no token does not run at all. Experts are a
/// <c>ModuleList&lt;Linear&gt;</c>, called through <c>call()</c>.
/// </summary>
public sealed class MoeBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> experts;

    /// <summary>Creates the block with two experts.</summary>
    public MoeBlock(long dim) : base(nameof(MoeBlock))
    {
        experts = nn.ModuleList(nn.Linear(dim, dim), nn.Linear(dim, dim));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        var rows = x.reshape(-1, x.shape[^1]);
        var output = rows.clone();
        var first = rows[.., 0] >= 0;
        for (int e = 0; e < experts.Count; e++)
        {
            var mine = (e == 0 ? first : first.logical_not()).nonzero().squeeze(1);
            if (mine.numel() == 0) continue;   // no token for this expert: it does not run
            var picked = rows.index_select(0, mine);
            output = output.index_add(0, mine, experts[e].call(picked), 1);
        }
        return output.reshape(x.shape);
    }
}
