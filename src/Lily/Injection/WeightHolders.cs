using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Where each parameter of a model is registered: the paths (<c>fc.weight</c>, <c>head.weight</c>) of every
/// module that holds it as its own parameter, by tensor identity. A weight held twice is tied (a tied
/// head, two layers sharing one weight): merging an update into it in place would change the other use too.
/// </summary>
/// <remarks>
/// Only registration is seen: a weight read in a forward method without being registered elsewhere
/// (<c>functional.linear(h, fc.weight)</c> on a weight no second module holds) cannot be found this way.
/// </remarks>
internal sealed class WeightHolders
{
    private readonly Dictionary<object, List<string>> holders = new(ReferenceEqualityComparer.Instance);

    private WeightHolders(nn.Module model)
    {
        foreach (var (path, module) in model.named_modules())
        {
            foreach (var (name, parameter) in module.named_parameters(recurse: false))
            {
                if (!holders.TryGetValue(parameter, out var paths)) holders.Add(parameter, paths = new List<string>());
                paths.Add(path.Length == 0 ? name : $"{path}.{name}");
            }
        }
    }

    /// <summary>Reads the registrations of <paramref name="model"/> as they are now.</summary>
    public static WeightHolders Of(nn.Module model) => new(model);

    /// <summary>The paths that hold <paramref name="weight"/> besides <paramref name="ownPath"/>.</summary>
    public IReadOnlyList<string> OthersThan(Tensor weight, string ownPath) =>
        holders.TryGetValue(weight, out var paths) ? paths.Where(p => p != ownPath).ToList() : [];
}
