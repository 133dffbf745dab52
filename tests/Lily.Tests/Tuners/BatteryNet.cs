using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// The method battery's model: two residual blocks, x + v_proj(tanh(q_proj(x))) + fc2(tanh(fc1(x))), and a
/// head. tanh, not ReLU: libtorch's meta device has no ReLU kernel, and every case runs there too.
/// </summary>
public sealed class BatteryNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Width of the input and of every block.</summary>
    public const int Dim = 6;

    /// <summary>Width of fc1's output.</summary>
    public const int Hidden = 10;

    /// <summary>Number of classes of the head.</summary>
    public const int Classes = 4;

    private readonly ModuleList<BatteryBlock> blocks;
    private readonly Linear head;

    /// <summary>Creates the model in <paramref name="dtype"/> on the default device.</summary>
    public BatteryNet(ScalarType dtype = ScalarType.Float64) : base(nameof(BatteryNet))
    {
        blocks = nn.ModuleList(new BatteryBlock(dtype), new BatteryBlock(dtype));
        head = nn.Linear(Dim, Classes, dtype: dtype);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in blocks) x = block.call(x);
        return head.call(x).MoveToOuterDisposeScope();
    }
}

/// <summary>One block of <see cref="BatteryNet"/>.</summary>
public sealed class BatteryBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj, v_proj, fc1, fc2;

    /// <summary>Creates the block's four projections in <paramref name="dtype"/>.</summary>
    public BatteryBlock(ScalarType dtype) : base(nameof(BatteryBlock))
    {
        q_proj = nn.Linear(BatteryNet.Dim, BatteryNet.Dim, dtype: dtype);
        v_proj = nn.Linear(BatteryNet.Dim, BatteryNet.Dim, dtype: dtype);
        fc1 = nn.Linear(BatteryNet.Dim, BatteryNet.Hidden, dtype: dtype);
        fc2 = nn.Linear(BatteryNet.Hidden, BatteryNet.Dim, dtype: dtype);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (x + v_proj.call(q_proj.call(x).tanh()) + fc2.call(fc1.call(x).tanh())).MoveToOuterDisposeScope();
    }
}
