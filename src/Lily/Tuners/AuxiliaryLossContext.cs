using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// What the layers of one <see cref="PeftModel{TModel}.AuxiliaryLoss()"/> call share: a memo of work on
/// tensors that several layers hold (a method's shared factors), so that work is done once per call and
/// not once per layer. CLoRA's SADE, for instance, needs the Gram blocks of its shared bases D and U;
/// every layer of a group asks for them and the first one computes them.
/// </summary>
/// <remarks>
/// Entries are keyed by a name and the identity of the tensor they are computed from (reference
/// equality, never values), and live for one call: the call opens a dispose scope around the context,
/// so the memoised tensors are freed with the call's other temporaries once the total is formed. They
/// keep their autograd history, so gradients of the returned loss still reach the tensors they came from.
/// </remarks>
public sealed class AuxiliaryLossContext
{
    private readonly Dictionary<(string Name, object Key), Tensor> memo = new(KeyComparer.Instance);

    /// <summary>How many entries were computed (calls of a <c>compute</c> delegate) so far.</summary>
    public int Computed { get; private set; }

    /// <summary>How many requests were answered from the memo so far.</summary>
    public int Reused { get; private set; }

    /// <summary>True once a call has used this context: its memoised tensors were freed when that call returned.</summary>
    internal bool Used { get; private set; }

    /// <summary>Marks the context as taken by a call; a second call would read tensors the first one freed.</summary>
    internal void Claim()
    {
        if (Used)
            throw new ArgumentException("This AuxiliaryLossContext was already used by an AuxiliaryLoss call, whose shared tensors are freed; pass a new context to each call.", "context");
        Used = true;
    }

    /// <summary>
    /// The result of <paramref name="compute"/> for <paramref name="key"/> under <paramref name="name"/>:
    /// computed on the first request of this call, the same tensor on every later one.
    /// </summary>
    /// <param name="name">What is computed, e.g. <c>"clora.sade.gram_D"</c>; the same key may carry several names.</param>
    /// <param name="key">The tensor the work depends on (by identity: the shared parameter itself).</param>
    /// <param name="compute">Computes the value from <paramref name="key"/>; its result must stay valid for the call.</param>
    public Tensor Shared(string name, Tensor key, Func<Tensor> compute)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(compute);
        if (memo.TryGetValue((name, key), out var value))
        {
            Reused++;
            return value;
        }
        value = compute();
        memo[(name, key)] = value;
        Computed++;
        return value;
    }

    private sealed class KeyComparer : IEqualityComparer<(string Name, object Key)>
    {
        public static readonly KeyComparer Instance = new();

        public bool Equals((string Name, object Key) x, (string Name, object Key) y) =>
            ReferenceEquals(x.Key, y.Key) && string.Equals(x.Name, y.Name, StringComparison.Ordinal);

        public int GetHashCode((string Name, object Key) obj) =>
            HashCode.Combine(StringComparer.Ordinal.GetHashCode(obj.Name), RuntimeHelpers.GetHashCode(obj.Key));
    }
}
