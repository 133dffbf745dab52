using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>Attention-like block: three projections stored in fields, as user models do.</summary>
public sealed class ToyBlock : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> k_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private readonly Sequential mlp;

    public ToyBlock(long dim, long hidden, ScalarType dtype = ScalarType.Float32) : base(nameof(ToyBlock))
    {
        q_proj = nn.Linear(dim, dim, dtype: dtype);
        k_proj = nn.Linear(dim, dim, dtype: dtype);
        v_proj = nn.Linear(dim, dim, dtype: dtype);
        mlp = nn.Sequential(("fc1", nn.Linear(dim, hidden, dtype: dtype)), ("act", nn.ReLU()), ("fc2", nn.Linear(hidden, dim, dtype: dtype)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x + q_proj.call(x) * k_proj.call(x).sigmoid() + v_proj.call(x);
        return (h + mlp.call(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>A stack of <see cref="ToyBlock"/> in a ModuleList, with a head: enough structure for injection tests.</summary>
public sealed class ToyModel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ToyBlock> layers;
    private nn.Module<Tensor, Tensor> head;

    public ToyModel(int depth, long dim, long hidden, long classes, ScalarType dtype = ScalarType.Float32) : base(nameof(ToyModel))
    {
        layers = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new ToyBlock(dim, hidden, dtype)).ToArray());
        head = nn.Linear(dim, classes, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x = layer.call(x);
        return head.call(x).MoveToOuterDisposeScope();
    }
}

/// <summary>L parallel Linear layers of one target type whose outputs are summed: each layer sees the same input.</summary>
public sealed class ParallelLinears : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> proj;

    public ParallelLinears(int count, long inFeatures, long outFeatures) : base(nameof(ParallelLinears))
    {
        proj = nn.ModuleList(Enumerable.Range(0, count).Select(_ => (nn.Module<Tensor, Tensor>)nn.Linear(inFeatures, outFeatures)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor? sum = null;
        foreach (var p in proj) sum = sum is null ? p.call(x) : sum + p.call(x);
        return sum!.MoveToOuterDisposeScope();
    }
}

/// <summary>A model whose Linear is stored in a field typed <see cref="Linear"/>, which cannot hold an adapter.</summary>
public sealed class TypedFieldModel : nn.Module<Tensor, Tensor>
{
    private readonly Linear proj;
    private nn.Module<Tensor, Tensor> other;

    public TypedFieldModel() : base(nameof(TypedFieldModel))
    {
        proj = nn.Linear(4, 4);
        other = nn.Linear(4, 4);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => other.call(proj.call(x));
}
