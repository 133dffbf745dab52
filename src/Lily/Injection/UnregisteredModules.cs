using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Modules a model keeps in its fields but never registered. TorchSharp registers a custom module's fields only
/// when its constructor calls <c>RegisterComponents()</c>; without that call the layers exist and run, but the
/// module tree, <c>parameters()</c>, <c>state_dict()</c> and so injection do not see them, and "no layer matches"
/// would otherwise be all a user is told.
/// </summary>
internal static class UnregisteredModules
{
    private const int MaxNamed = 8;

    /// <summary>A sentence naming such fields and the fix, or null when every module a field holds is in the tree.</summary>
    public static string? Note(IReadOnlyList<ModuleTree.Node> modules)
    {
        var inTree = new HashSet<nn.Module>(modules.Select(m => m.Module), ReferenceEqualityComparer.Instance);
        var fields = new List<string>();
        var owners = new List<string>();
        foreach (var node in modules)
        {
            if (node.Module is IAdapterInternal) continue;
            foreach (var field in ModuleAliases.UserFields(node.Module.GetType()))
            {
                if (field.FieldType.IsValueType || field.GetValue(node.Module) is not nn.Module held || inTree.Contains(held)) continue;
                fields.Add($"{node.Module.GetType().Name}.{Regex.Replace(field.Name, "^<(.+)>k__BackingField$", "$1")} ({held.GetType().Name})");
                if (!owners.Contains(node.Module.GetType().Name)) owners.Add(node.Module.GetType().Name);
            }
        }
        if (fields.Count == 0) return null;
        var named = string.Join(", ", fields.Take(MaxNamed)) + (fields.Count > MaxNamed ? $" and {fields.Count - MaxNamed} more" : "");
        return $"Fields hold modules that were never registered, so the model's module tree does not contain them: {named}. " +
               $"Call RegisterComponents() at the end of the constructor of {string.Join(", ", owners)}: TorchSharp registers " +
               "a module's fields only then, and without it their parameters are not trained or saved either.";
    }
}
