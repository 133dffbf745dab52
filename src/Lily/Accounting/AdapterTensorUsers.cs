using Lily.Planning;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Accounting;

/// <summary>
/// Which adapter layers use each adapter tensor, by tensor identity: the one place own and shared
/// parameters are told apart. A tensor used by more than one layer is shared (Lily's A and expert pool,
/// CLoRA's bases); the rest are the layer's own. <see cref="ParameterSummary"/> counts an adapted model
/// with it and <see cref="PeftPlan"/> a planned one, so the two cannot count differently.
/// </summary>
internal sealed class AdapterTensorUsers
{
    private readonly Dictionary<Tensor, (string Name, List<int> Layers)> users = new(ReferenceEqualityComparer.Instance);
    private readonly List<Tensor> tensors = [];
    private readonly IReadOnlyList<AdapterLinear> layers;

    /// <summary>Finds the users of every parameter of <paramref name="layers"/>.</summary>
    public AdapterTensorUsers(IReadOnlyList<AdapterLinear> layers)
    {
        this.layers = layers;
        for (int i = 0; i < layers.Count; i++)
        {
            foreach (var (name, p) in layers[i].named_parameters())
            {
                if (!users.TryGetValue(p, out var entry))
                {
                    entry = (name, new List<int>());
                    users.Add(p, entry);
                    tensors.Add(p);
                }
                if (!entry.Layers.Contains(i)) entry.Layers.Add(i);
            }
        }
    }

    /// <summary>Every adapter tensor once, in order of first use.</summary>
    public IReadOnlyList<Tensor> Tensors => tensors;

    /// <summary>Elements of the adapter tensors, each tensor once however many layers use it.</summary>
    public long Elements => tensors.Sum(p => p.numel());

    /// <summary>The tensor's name in the first layer that uses it (e.g. <c>lily_A.weight</c>).</summary>
    public string NameOf(Tensor tensor) => users[tensor].Name;

    /// <summary>The indexes of the layers that use the tensor, ascending.</summary>
    public IReadOnlyList<int> UsersOf(Tensor tensor) => users[tensor].Layers;

    /// <summary>True when more than one layer uses the tensor.</summary>
    public bool IsShared(Tensor tensor) => users[tensor].Layers.Count > 1;

    /// <summary>
    /// Elements of the tensors layer <paramref name="index"/> alone uses, and of those it uses with other layers
    /// (each shared tensor counted in full for every layer that uses it).
    /// </summary>
    public (long Own, long Shared) CountsOf(int index)
    {
        long own = 0, shared = 0;
        foreach (var p in layers[index].AdapterParameters())
        {
            if (IsShared(p)) shared += p.numel();
            else own += p.numel();
        }
        return (own, shared);
    }
}
