using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// Zoo style (g): Linears kept in plain <see cref="List{T}"/> fields, which RegisterComponents skips (it registers
/// only fields holding a Module, Parameter or Tensor), so the constructor registers them by hand under flat names.
/// Nothing but the module registry connects a name to a list slot.
/// Linear paths, in registration order: <c>q_proj_0</c>, <c>v_proj_0</c>, <c>q_proj_1</c>, <c>v_proj_1</c>, ...
/// </summary>
public sealed class ListOfLinearModel : nn.Module<Tensor, Tensor>
{
    private readonly List<Linear> qs = new();
    private readonly List<Linear> vs = new();

    /// <summary>Creates the model.</summary>
    /// <param name="dim">Input and output features.</param>
    /// <param name="depth">Number of (q, v) pairs.</param>
    public ListOfLinearModel(long dim, int depth) : base(nameof(ListOfLinearModel))
    {
        for (int i = 0; i < depth; i++)
        {
            var q = nn.Linear(dim, dim);
            var v = nn.Linear(dim, dim);
            qs.Add(q);
            vs.Add(v);
            register_module($"q_proj_{i}", q);
            register_module($"v_proj_{i}", v);
        }
        // A no-op for the lists; it only marks the model as registered, as any model constructor would.
        RegisterComponents();
    }

    /// <summary>x + v_i(tanh(q_i(x))) for each pair in order.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < qs.Count; i++) x = x + vs[i].call(qs[i].call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
