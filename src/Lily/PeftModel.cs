using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily;

/// <summary>
/// Entry points: inject adapters into a TorchSharp model (<see cref="Create{TModel}"/>) or load
/// saved ones into it. The result, a <see cref="PeftModel{TModel}"/>, is a handle on the same
/// model object, now carrying adapters; keep calling the model as before.
/// </summary>
public static class PeftModel
{
    /// <summary>
    /// Freezes <paramref name="model"/> and replaces every Linear layer matched by the config's
    /// target modules with the config's adapter layer, in place. Each adapter layer takes the
    /// training mode of the layer it replaces, so a model in eval mode stays in eval mode.
    /// </summary>
    /// <typeparam name="TModel">The model's type, kept so <see cref="PeftModel{TModel}.Model"/> stays typed.</typeparam>
    /// <param name="model">Any TorchSharp module tree.</param>
    /// <param name="config">The method and its settings (<see cref="LoraConfig"/>, <see cref="LilyConfig"/>).</param>
    /// <param name="loggerFactory">Receives a summary of what was injected; nothing is logged in forward.</param>
    /// <exception cref="ArgumentException">The config is invalid, or no module matches it; the model is unchanged.</exception>
    public static PeftModel<TModel> Create<TModel>(TModel model, PeftConfig config, ILoggerFactory? loggerFactory = null)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Lily.PeftModel");

        var modules = ModuleTree.Walk(model).ToList();
        if (modules.Any(m => m.Module is AdapterLinear))
            throw new ArgumentException("The model already carries adapters; call Unload() on its PeftModel first.", nameof(model));

        var targets = FindTargets(modules, config);
        var saved = FindModulesToSave(modules, config, targets);

        // Build every adapter before touching the model: a failure here leaves it as it was.
        var builder = config.CreateBuilder();
        var built = targets.Select(t =>
        {
            var linear = (Linear)t.Module;
            return new AdaptedModule(t.Path, t.Parent!, t.Name, builder.Build(t.Path, linear, AdapterDtype(linear, config)));
        }).ToList();
        foreach (var a in built)
        {
            if (ModuleTree.CannotReplace(a.Parent, a.Name, a.Layer.BaseLayer, a.Layer.GetType()) is string why)
                throw new ArgumentException($"Cannot adapt '{a.Path}': {why}.", nameof(model));
        }

        var originalRequiresGrad = new Dictionary<string, bool>();
        foreach (var (name, p) in model.named_parameters())
        {
            originalRequiresGrad[name] = p.requires_grad;
            p.requires_grad = false;
        }
        foreach (var a in built)
        {
            // A new module starts in training mode; follow the layer it replaces, so adapting (or
            // loading into) a model in eval mode does not switch LoRA dropout on.
            a.Layer.train(a.Layer.BaseLayer.training);
            ModuleTree.ReplaceChild(a.Parent, a.Name, a.Layer);
        }
        foreach (var m in saved)
            foreach (var p in m.Module.parameters()) p.requires_grad = true;

        logger.LogInformation("Injected {Method} into {Count} modules: {Paths}", config.PeftType, built.Count, string.Join(", ", built.Select(b => b.Path)));
        builder.LogSummary(logger);
        if (saved.Count > 0)
            logger.LogInformation("Trained in full and saved with the adapter: {Paths}", string.Join(", ", saved.Select(s => s.Path)));

        var peft = new PeftModel<TModel>(model, config, built, saved.Select(s => (s.Path, s.Module)).ToList(), originalRequiresGrad);
        logger.LogInformation("{Summary}", peft.GetParameterSummary());
        return peft;
    }

    /// <summary>The weights file name PEFT uses.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>Reads and validates the <c>adapter_config.json</c> in <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">The file is not there.</exception>
    /// <exception cref="InvalidDataException">The file cannot be read as a config; the message names the field.</exception>
    public static PeftConfig LoadConfig(string directory)
    {
        var path = Path.Combine(directory, Serialization.AdapterConfigFile.FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"No {Serialization.AdapterConfigFile.FileName} in '{directory}'.", path);
        return Serialization.AdapterConfigFile.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>
    /// Injects the adapter saved in <paramref name="directory"/> (by this library or by Hugging Face
    /// PEFT) into <paramref name="model"/> and loads its weights. Both files are read and every key,
    /// shape and shared copy is checked before the weights are copied; if anything is wrong the
    /// adapters are removed again, so after a failed load the model is exactly as before.
    /// </summary>
    /// <param name="model">A fresh copy of the base model the adapter was trained on.</param>
    /// <param name="directory">Holds <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>.</param>
    /// <param name="strict">Missing or unexpected tensors are errors (default). Mis-shaped tensors always are.</param>
    /// <param name="loggerFactory">Receives the injection summary and, when not strict, the keys that did not match.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">
    /// A file is malformed, or the adapter does not fit the model (its target modules are not there, or
    /// tensors are missing, unexpected, mis-shaped or not floating-point); the message names the keys.
    /// </exception>
    /// <exception cref="ArgumentException">The model already carries adapters.</exception>
    public static PeftModel<TModel> Load<TModel>(TModel model, string directory, bool strict = true, ILoggerFactory? loggerFactory = null)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = LoadConfig(directory);
        var weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"No {WeightsFileName} in '{directory}'.", weightsPath);
        Serialization.SafeTensorsReader file;
        try
        {
            file = Serialization.SafeTensorsReader.ReadFile(weightsPath);
        }
        catch (Serialization.SafeTensorsFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }

        PeftModel<TModel> peft;
        try
        {
            peft = Create(model, config, loggerFactory);
        }
        catch (ArgumentException e) when (e.ParamName == nameof(config))
        {
            // The config came from the file, so a config that does not fit the model is a file that does not fit it.
            var configPath = Path.Combine(directory, Serialization.AdapterConfigFile.FileName);
            var reason = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new InvalidDataException($"{configPath} does not fit this model: {reason}", e);
        }
        try
        {
            var (missing, unexpected) = Serialization.AdapterStateDict.Load(peft.StateDictEntries(), file, strict);
            var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Lily.PeftModel");
            if (missing.Count > 0) logger.LogWarning("Keys missing from {File}, left as initialised: {Keys}", weightsPath, string.Join(", ", missing));
            if (unexpected.Count > 0) logger.LogWarning("Keys in {File} that the model does not have, ignored: {Keys}", weightsPath, string.Join(", ", unexpected));
        }
        catch
        {
            peft.Unload();
            throw;
        }
        return peft;
    }

    private static List<ModuleTree.Node> FindTargets(List<ModuleTree.Node> modules, PeftConfig config)
    {
        var matcher = TargetModuleMatcher.ForTargets(config);
        var targets = new List<ModuleTree.Node>();
        foreach (var node in modules)
        {
            if (node.Parent is null || !matcher.IsMatch(node.Path)) continue;
            if (node.Module is not Linear)
                throw new ArgumentException(
                    $"Target module '{node.Path}' is a {node.Module.GetType().Name}; {config.PeftType} adapts only Linear layers. " +
                    "Narrow target modules so they name Linear layers only.", nameof(config));
            var twin = targets.FirstOrDefault(t => ReferenceEquals(t.Module, node.Module));
            if (twin is not null)
                throw new ArgumentException(
                    $"Target modules '{twin.Path}' and '{node.Path}' are the same Linear object; adapting a layer shared between two places is not supported.",
                    "model");
            targets.Add(node);
        }
        if (targets.Count == 0)
        {
            var linears = modules.Where(m => m.Module is Linear).Select(m => m.Path).ToList();
            throw new ArgumentException(
                $"No module of the model matches target modules {matcher}. " +
                (linears.Count == 0
                    ? "The model has no Linear layers."
                    : $"Its Linear layers are: {string.Join(", ", linears)}."),
                nameof(config));
        }
        return targets;
    }

    private static List<ModuleTree.Node> FindModulesToSave(List<ModuleTree.Node> modules, PeftConfig config, List<ModuleTree.Node> targets)
    {
        if (config.ModulesToSave is not { Count: > 0 } names) return [];
        var matcher = TargetModuleMatcher.ForNames(names);
        var saved = modules.Where(m => m.Parent is not null && matcher.IsMatch(m.Path)).ToList();
        if (saved.Count == 0)
            throw new ArgumentException($"No module of the model matches modules to save {matcher}.", nameof(config));
        var overlap = saved.FirstOrDefault(s => targets.Any(t => t.Path == s.Path || t.Path.StartsWith(s.Path + ".", StringComparison.Ordinal)));
        if (overlap is not null)
            throw new ArgumentException($"Module '{overlap.Path}' is both trained in full (modules to save) and adapted; choose one.", nameof(config));
        return saved;
    }

    private static ScalarType AdapterDtype(Linear layer, PeftConfig config)
    {
        var dtype = layer.weight!.dtype;
        return config.AutocastAdapterDtype && dtype is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : dtype;
    }
}
