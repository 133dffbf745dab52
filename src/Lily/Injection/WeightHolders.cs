using static TorchSharp.torch;

namespace Lily.Injection;

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
    // By parameter: each module that holds it (once, however many names it is registered under) and its path.
    private readonly Dictionary<object, List<(nn.Module Module, string Path)>> holders = new(ReferenceEqualityComparer.Instance);

    private WeightHolders(nn.Module model)
    {
        foreach (var (path, module) in model.named_modules())
        {
            foreach (var (name, parameter) in module.named_parameters(recurse: false))
            {
                if (!holders.TryGetValue(parameter, out var list)) holders.Add(parameter, list = new());
                // One module registered under two names (a field and a list) is one use, not a tie.
                if (!list.Any(h => ReferenceEquals(h.Module, module))) list.Add((module, path.Length == 0 ? name : $"{path}.{name}"));
            }
        }
    }

    /// <summary>Reads the registrations of <paramref name="model"/> as they are now.</summary>
    public static WeightHolders Of(nn.Module model) => new(model);

    /// <summary>The paths of the modules other than <paramref name="owner"/> that hold <paramref name="weight"/>.</summary>
    public IReadOnlyList<string> OthersThan(Tensor weight, nn.Module owner) =>
        holders.TryGetValue(weight, out var list) ? list.Where(h => !ReferenceEquals(h.Module, owner)).Select(h => h.Path).ToList() : [];
}
