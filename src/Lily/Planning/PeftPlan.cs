using System.Globalization;
using System.Text;
using Lily.Accounting;
using Lily.Injection;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Planning;

/// <summary>
/// What <see cref="PeftModel.Create{TModel}"/> would do to a model with a config, worked out without
/// touching the model: the layers it adapts, the exact trainable counts per layer (own and shared)
/// and in total, the groups of layers that share adapter tensors, and the modules trained in full.
/// </summary>
/// <remarks>
/// The plan runs injection's own code: the same layer selection and the config's own builder, which
/// builds the adapter layers on the <c>meta</c> device (shapes without memory). Counts are taken from
/// the built tensors, so no formula is repeated here and a plan cannot drift from what injection
/// creates. Sharing is read from tensor identity, whatever the method.
/// </remarks>
public sealed class PeftPlan
{
    private PeftPlan(PeftConfig config, IReadOnlyList<PlanLayer> layers, IReadOnlyList<PlanSharingGroup> groups,
        IReadOnlyList<PlanModuleToSave> modulesToSave, long adapterParameters)
    {
        Config = config;
        Layers = layers;
        SharingGroups = groups;
        ModulesToSave = modulesToSave;
        AdapterParameters = adapterParameters;
    }

    /// <summary>The config the plan was made for.</summary>
    public PeftConfig Config { get; }

    /// <summary>The layers that would be adapted, in traversal order.</summary>
    public IReadOnlyList<PlanLayer> Layers { get; }

    /// <summary>Groups of layers linked by shared adapter tensors (empty for methods that share nothing, such as LoRA).</summary>
    public IReadOnlyList<PlanSharingGroup> SharingGroups { get; }

    /// <summary>The modules that would be trained in full.</summary>
    public IReadOnlyList<PlanModuleToSave> ModulesToSave { get; }

    /// <summary>Elements of the adapter tensors, each tensor once however many layers share it.</summary>
    public long AdapterParameters { get; }

    /// <summary>Elements of the modules trained in full.</summary>
    public long ModulesToSaveParameters => ModulesToSave.Sum(m => m.Parameters);

    /// <summary>
    /// What an optimizer would update: adapter tensors once plus the modules to save; zero in
    /// inference mode. Equals <see cref="ParameterSummary.TrainableParameters"/> after
    /// <see cref="PeftModel.Create{TModel}"/> on a model whose parameters are otherwise frozen by it.
    /// </summary>
    public long TrainableParameters => Config.InferenceMode ? 0 : AdapterParameters + ModulesToSaveParameters;

    /// <summary>Plans <paramref name="config"/> on <paramref name="model"/>; the model is not changed.</summary>
    /// <exception cref="ArgumentException">The config does not fit the model, as injection would report it.</exception>
    public static PeftPlan For(nn.Module model, PeftConfig config)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var modules = ModuleTree.Walk(model).ToList();
        var selected = TargetSelector.Select(modules, config);
        var toSave = PlanModulesToSave(Injector.FindModulesToSave(modules, config, selected, [], []));

        var builder = config.CreateBuilder();
        var built = new List<(AdapterTarget Target, AdapterLinear Layer)>();
        try
        {
            // The same builder injection uses, in the same order, so sharing is decided the same way.
            foreach (var s in selected)
                built.Add((s.Target, builder.Build(s.Target, META, Injector.AdapterDtype(s.Target.BaseLayer, config))));
            return Count(config, built, toSave);
        }
        finally
        {
            foreach (var (_, layer) in built) layer.Dispose();
        }
    }

    private static PeftPlan Count(PeftConfig config, List<(AdapterTarget Target, AdapterLinear Layer)> built, List<PlanModuleToSave> toSave)
    {
        // The same counting as ParameterSummary's, on the layers injection would create.
        var users = new AdapterTensorUsers(built.Select(b => b.Layer).ToList());
        var layers = built.Select((b, i) =>
        {
            var (own, shared) = users.CountsOf(i);
            var linear = b.Target.BaseLayer;
            return new PlanLayer(b.Target.Path, linear.in_features, linear.out_features, b.Target.TargetEntry, b.Layer.GetName(), own, shared);
        }).ToList();
        return new PeftPlan(config, layers, Groups(users, layers), toSave, users.Elements);
    }

    // Layers linked by a chain of shared tensors form one group (union-find over layer indices).
    private static List<PlanSharingGroup> Groups(AdapterTensorUsers users, List<PlanLayer> layers)
    {
        var parent = Enumerable.Range(0, layers.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        var shared = users.Tensors.Where(users.IsShared).ToList();
        foreach (var p in shared)
        {
            var ids = users.UsersOf(p);
            foreach (int j in ids.Skip(1)) parent[Find(j)] = Find(ids[0]);
        }

        // A group is a set of layers linked by shared tensors; it lists every tensor its layers use.
        var roots = shared.Select(p => Find(users.UsersOf(p)[0])).Distinct().ToList();
        return roots
            .OrderBy(root => Enumerable.Range(0, layers.Count).First(i => Find(i) == root))
            .Select(root => new PlanSharingGroup(
                Enumerable.Range(0, layers.Count).Where(i => Find(i) == root).Select(i => layers[i].Path).ToList(),
                users.Tensors.Where(p => Find(users.UsersOf(p)[0]) == root)
                    .Select(p => new PlanTensor(users.NameOf(p), p.shape.ToArray(), p.numel(), users.UsersOf(p).Select(i => layers[i].Path).ToList())).ToList()))
            .ToList();
    }

    // PEFT's modules_to_save rule, as injection applies it: a module whose path is a listed name or ends with "." + name.
    private static List<PlanModuleToSave> PlanModulesToSave(List<(string Path, nn.Module Module)> found)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        return found.Select(m => new PlanModuleToSave(m.Path, m.Module.parameters().Where(seen.Add).Sum(p => p.numel()))).ToList();
    }

    /// <summary>One line: layers, groups, trainable count.</summary>
    public override string ToString() => string.Format(
        CultureInfo.InvariantCulture,
        "{0}: {1} layers adapted, {2} sharing groups, {3} modules to save; trainable params: {4:N0} (adapter {5:N0}, modules to save {6:N0})",
        Config.PeftType, Layers.Count, SharingGroups.Count, ModulesToSave.Count, TrainableParameters, AdapterParameters, ModulesToSaveParameters);

    /// <summary>A plain-text table of the layers, then the sharing groups and modules to save, then <see cref="ToString"/>.</summary>
    public string ToTable()
    {
        var inv = CultureInfo.InvariantCulture;
        int width = Math.Max("layer".Length, Layers.Count == 0 ? 0 : Layers.Max(l => l.Path.Length));
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"{"layer".PadRight(width)}  {"target",-12} {"in",7} {"out",7} {"own",10} {"shared",10}");
        foreach (var l in Layers)
            sb.AppendLine(inv, $"{l.Path.PadRight(width)}  {l.TargetEntry,-12} {l.InFeatures,7} {l.OutFeatures,7} {l.OwnParameters,10:N0} {l.SharedParameters,10:N0}");
        for (int g = 0; g < SharingGroups.Count; g++)
        {
            var group = SharingGroups[g];
            var counts = string.Join(", ", group.TensorsByName.Select(kv => $"{kv.Value} × {kv.Key}"));
            sb.AppendLine(inv, $"sharing group {g + 1}: {group.Layers.Count} layers ({group.Layers[0]} … {group.Layers[^1]}), {counts}, {group.Parameters:N0} params ({group.SharedParameters:N0} shared)");
        }
        foreach (var m in ModulesToSave)
            sb.AppendLine(inv, $"module to save: {m.Path}, {m.Parameters:N0} params");
        sb.Append(ToString());
        return sb.ToString();
    }
}
