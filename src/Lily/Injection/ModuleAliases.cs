using System.Collections;
using System.Reflection;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Finds the places other than its slot in its parent where a model keeps a module: another
/// registered path (the same object under two names), or a field of some module of the model that
/// holds it directly, in a collection, in a delegate (a captured <c>fc.call</c>), or in a record or
/// tuple. Replacing the layer in its slot would leave those places running the original without the
/// adapter, so such a layer is attached by a hook, which fires wherever the object runs.
/// </summary>
/// <remarks>
/// A search by reflection over the model's own fields, two levels deep, reading collections but never
/// enumerating lazy sequences: it finds what models commonly do, not every conceivable reference (a
/// static field, an object outside the model). What it misses is caught when the model runs
/// (<see cref="AdapterSite.Bypasses"/>, <see cref="AdapterParticipation"/>, <see cref="AdapterProbe"/>).
/// </remarks>
internal sealed class ModuleAliases
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
    private const int MaxElements = 100_000;
    private const int MaxDepth = 2;

    private readonly IReadOnlyList<ModuleTree.Node> modules;
    private readonly List<(nn.Module Held, ModuleTree.Node Owner, FieldInfo Field, bool Direct)> holders = new();

    private ModuleAliases(IReadOnlyList<ModuleTree.Node> modules) => this.modules = modules;

    /// <summary>Reads every field of the model's own types once.</summary>
    public static ModuleAliases Of(IReadOnlyList<ModuleTree.Node> modules)
    {
        var aliases = new ModuleAliases(modules);
        foreach (var owner in modules)
        {
            if (owner.Module is IAdapterInternal) continue;
            foreach (var field in UserFields(owner.Module.GetType()))
            {
                var value = field.GetValue(owner.Module);
                if (value is nn.Module direct) aliases.holders.Add((direct, owner, field, true));
                else aliases.Collect(value, owner, field, depth: 0);
            }
        }
        return aliases;
    }

    /// <summary>Where else <paramref name="node"/>'s module is kept, or null when only its slot holds it.</summary>
    public string? Describe(ModuleTree.Node node)
    {
        var twin = modules.FirstOrDefault(m => ReferenceEquals(m.Module, node.Module) && m.Path != node.Path);
        if (twin is not null) return $"the same Linear object is also registered at '{twin.Path}'";
        // The parent's own fields holding the layer directly are what replacing redirects.
        var other = holders.FirstOrDefault(h => ReferenceEquals(h.Held, node.Module) && !(h.Direct && ReferenceEquals(h.Owner.Module, node.Parent)));
        if (other.Owner is null) return null;
        var owner = other.Owner.Path.Length == 0 ? "the model" : $"'{other.Owner.Path}'";
        return $"field '{other.Field.Name}' of {owner} ({other.Owner.Module.GetType().Name}) also holds it, and a wrapper in its slot would not reach that copy";
    }

    // Fields declared by the user's types: TorchSharp's own (registrations, container lists, hooks) are
    // what the tree walk and the container code already account for.
    internal static IEnumerable<FieldInfo> UserFields(Type type)
    {
        for (var t = type; t is not null && t != typeof(nn.Module); t = t.BaseType)
        {
            if (t.Namespace?.StartsWith("TorchSharp", StringComparison.Ordinal) == true) continue;
            foreach (var f in t.GetFields(InstanceFields)) yield return f;
        }
    }

    private void Collect(object? value, ModuleTree.Node owner, FieldInfo field, int depth)
    {
        switch (value)
        {
            case null or string or Tensor or Pointer:
                return;
            case nn.Module module:
                holders.Add((module, owner, field, false));
                return;
            case Delegate d:
                foreach (var call in d.GetInvocationList())
                {
                    // A delegate on a module's method (fc.call) targets the module; a lambda over a local
                    // keeps it in its closure. A lambda over `this` reads the fields at call time: fine.
                    if (call.Target is nn.Module m) { if (depth > 0 || !ReferenceEquals(m, owner.Module)) holders.Add((m, owner, field, false)); }
                    else if (call.Target is { } closure) CollectFields(closure, owner, field, depth + 1);
                }
                return;
        }
        if (depth >= MaxDepth) return;
        if (IsCollection(value))
        {
            foreach (var item in ((IEnumerable)value).Cast<object?>().Take(MaxElements)) Collect(item, owner, field, depth + 1);
            return;
        }
        var type = value.GetType();
        if (type.IsPrimitive || type.IsEnum) return;
        CollectFields(value, owner, field, depth + 1);
    }

    private void CollectFields(object holder, ModuleTree.Node owner, FieldInfo field, int depth)
    {
        if (depth > MaxDepth) return;
        for (var t = holder.GetType(); t is not null && t != typeof(object); t = t.BaseType)
        {
            // The framework's own non-generic types (a Random, a Stopwatch) hold no modules; tuples and pairs may.
            if (t.Namespace?.StartsWith("System", StringComparison.Ordinal) == true && !t.IsGenericType) return;
            foreach (var f in t.GetFields(InstanceFields))
            {
                if (!f.FieldType.IsPointer) Collect(f.GetValue(holder), owner, field, depth);
            }
        }
    }

    // Materialised collections only: enumerating a lazy sequence would run the user's code.
    private static bool IsCollection(object value) =>
        value is ICollection || value.GetType().GetInterfaces().Any(i => i.IsGenericType &&
            (i.GetGenericTypeDefinition() == typeof(ICollection<>) || i.GetGenericTypeDefinition() == typeof(IReadOnlyCollection<>)));
}
