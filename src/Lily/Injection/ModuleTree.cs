using System.Reflection;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Walking a TorchSharp module tree and swapping one child for another.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no <c>set_submodule</c>. A child lives in two places: the parent's
/// registration (<c>_internal_submodules</c>, which drives <c>named_modules</c>, <c>parameters</c>,
/// <c>to</c> and <c>state_dict</c>) and whatever the parent's forward reads — a field for ordinary
/// modules, a private list for <see cref="Sequential"/>, <see cref="ModuleList{T}"/> and
/// <see cref="ModuleDict{T}"/>, which register their children once. Both must change together.
/// </remarks>
internal static class ModuleTree
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    private static readonly FieldInfo Submodules =
        typeof(nn.Module).GetField("_internal_submodules", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new MissingFieldException("TorchSharp.torch.nn.Module", "_internal_submodules");

    /// <summary>A module, its dotted path, and where it hangs (null parent for the root).</summary>
    internal sealed record Node(string Path, nn.Module? Parent, string Name, nn.Module Module);

    /// <summary>
    /// Every module below and including <paramref name="root"/>, depth first, in registration order.
    /// Injection's own modules are not model modules: a wrapper that replaced a Linear is visited
    /// (it stands where the Linear stood) but not entered, and adapter containers are skipped.
    /// </summary>
    public static IEnumerable<Node> Walk(nn.Module root)
    {
        var stack = new Stack<Node>();
        stack.Push(new Node("", null, "", root));
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            yield return node;
            if (node.Module is TunerLinear) continue;
            var children = node.Module.named_children().Where(c => c.module is not IAdapterInternal || c.module is TunerLinear).ToList();
            for (int i = children.Count - 1; i >= 0; i--)
            {
                var (name, child) = children[i];
                stack.Push(new Node(node.Path.Length == 0 ? name : $"{node.Path}.{name}", node.Module, name, child));
            }
        }
    }

    /// <summary>
    /// Why <paramref name="replacement"/> cannot take the place of child <paramref name="name"/> of
    /// <paramref name="parent"/>, or null if it can. Replacing is allowed only where it is known where
    /// the parent's forward reads the child from: exactly a <see cref="Sequential"/>, a
    /// <see cref="ModuleList{T}"/> or <see cref="ModuleDict{T}"/> of a type that can hold it, or
    /// fields that all can. A container subclass or a child kept in a list of its own may be read
    /// from places reflection cannot see, so those are not replaced.
    /// </summary>
    public static string? CannotReplace(nn.Module parent, string name, nn.Module current, Type replacement)
    {
        var type = parent.GetType();
        var container = ContainerElementType(type);
        if (container is not null)
        {
            return container.IsAssignableFrom(replacement)
                ? null
                : $"its container {type.Name} holds only {container.Name}";
        }
        if (type == typeof(Sequential)) return null;
        if (DerivesFromContainer(type))
            return $"its parent {type.Name} derives from a TorchSharp container and may read its children from the container's private list";
        var fields = FieldsHolding(parent, current).ToList();
        if (fields.Count == 0)
            return $"no field of {type.Name} holds it (it is registered by hand or kept in a collection), so its forward cannot be redirected";
        foreach (var field in fields)
        {
            if (!field.FieldType.IsAssignableFrom(replacement))
                return $"it is stored in field '{field.Name}' of {type.Name}, declared as {field.FieldType.Name}, which cannot hold a {replacement.Name} (declare it as Module<Tensor, Tensor> to allow replacing)";
        }
        return null;
    }

    private static bool DerivesFromContainer(Type type)
    {
        for (var t = type.BaseType; t is not null; t = t.BaseType)
        {
            if (t == typeof(Sequential)) return true;
            if (t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(ModuleList<>) || t.GetGenericTypeDefinition() == typeof(ModuleDict<>))) return true;
        }
        return false;
    }

    /// <summary>True when a PeftModel's adapters are attached anywhere in <paramref name="root"/>.</summary>
    public static bool CarriesAdapters(nn.Module root) =>
        root.modules().Any(m => m is IAdapterInternal);

    /// <summary>Puts <paramref name="replacement"/> where child <paramref name="name"/> of <paramref name="parent"/> was.</summary>
    public static void ReplaceChild(nn.Module parent, string name, nn.Module replacement)
    {
        var registered = (OrderedDict<string, nn.Module>)Submodules.GetValue(parent)!;
        nn.Module? current = registered.TryGetValue(name, out var c) ? c : null;

        switch (parent)
        {
            case Sequential sequential:
                ReplaceInSequential(sequential, name, replacement);
                break;
            default:
                if (ContainerElementType(parent.GetType()) is not null)
                {
                    ReplaceInContainer(parent, name, replacement);
                }
                else if (current is not null)
                {
                    foreach (var field in FieldsHolding(parent, current)) field.SetValue(parent, replacement);
                }
                break;
        }
        // OrderedDict's setter keeps the key's position, so traversal order is unchanged.
        if (current is not null) registered[name] = replacement;
    }

    // Sequential keeps its children in private lists _names / _modules and reads them in forward.
    private static void ReplaceInSequential(Sequential sequential, string name, nn.Module replacement)
    {
        var names = (List<string>)GetPrivate(typeof(Sequential), "_names").GetValue(sequential)!;
        var modules = (System.Collections.IList)GetPrivate(typeof(Sequential), "_modules").GetValue(sequential)!;
        int index = names.IndexOf(name);
        if (index < 0) throw new InvalidOperationException($"Sequential has no child named '{name}'.");
        modules[index] = replacement;
    }

    // ModuleList<T> is indexed by position ("0", "1", ...), ModuleDict<T> by key; both registered
    // their children once at construction, so the registration is updated by the caller.
    private static void ReplaceInContainer(nn.Module container, string name, nn.Module replacement)
    {
        var type = container.GetType();
        if (type.GetGenericTypeDefinition() == typeof(ModuleList<>))
        {
            var indexer = type.GetProperty("Item", [typeof(int)])!;
            indexer.SetValue(container, replacement, [int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)]);
        }
        else
        {
            var indexer = type.GetProperty("Item", [typeof(string)])!;
            indexer.SetValue(container, replacement, [name]);
        }
    }

    private static Type? ContainerElementType(Type type)
    {
        if (!type.IsGenericType) return null;
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(ModuleList<>) || definition == typeof(ModuleDict<>) ? type.GetGenericArguments()[0] : null;
    }

    // Every instance field, up the class hierarchy, that currently holds `child`. Auto-properties
    // are found through their backing fields.
    private static IEnumerable<FieldInfo> FieldsHolding(nn.Module parent, nn.Module child)
    {
        for (var type = parent.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            foreach (var field in type.GetFields(InstanceFields))
            {
                if (typeof(nn.Module).IsAssignableFrom(field.FieldType) || field.FieldType.IsAssignableFrom(child.GetType()))
                {
                    if (!field.FieldType.IsValueType && ReferenceEquals(field.GetValue(parent), child)) yield return field;
                }
            }
        }
    }

    private static FieldInfo GetPrivate(Type type, string name) =>
        type.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new MissingFieldException(type.FullName, name);
}
