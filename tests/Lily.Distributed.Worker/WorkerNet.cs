using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Distributed.Worker;

/// <summary>
/// Three same-shape layers (Lily shares A and B over them), a layer that only the first sample of the
/// global batch goes through on even steps (so on the other ranks it has no gradient), and a head.
/// The Linear-typed fields get hooked adapters, the module-typed one a replacing adapter.
/// </summary>
public sealed class WorkerNet : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Linear fc3;
    // Typed as a module, so its adapter replaces it; fc1..fc3 are typed Linear and get hooked adapters.
    private readonly nn.Module<Tensor, Tensor> rare;
    private readonly Linear head;

    public WorkerNet(int dim, int classes, ScalarType dtype) : base(nameof(WorkerNet))
    {
        fc1 = nn.Linear(dim, dim, dtype: dtype);
        fc2 = nn.Linear(dim, dim, dtype: dtype);
        fc3 = nn.Linear(dim, dim, dtype: dtype);
        rare = nn.Linear(dim, dim, dtype: dtype);
        head = nn.Linear(dim, classes, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>How many leading rows of the next input go through <c>rare</c>.</summary>
    public long RareRows { get; set; }

    public override Tensor forward(Tensor x)
    {
        var h = nn.functional.relu(fc1.call(x));
        h = nn.functional.relu(fc2.call(h));
        h = fc3.call(h);
        if (RareRows > 0)
        {
            var k = Math.Min(RareRows, x.shape[0]);
            h = cat([h.narrow(0, 0, k) + rare.call(x.narrow(0, 0, k)), h.narrow(0, k, x.shape[0] - k)], 0);
        }

        return head.call(h);
    }
}
