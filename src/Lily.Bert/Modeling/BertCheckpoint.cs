using System.Text;
using Lily.Serialization;
using static TorchSharp.torch;

namespace Lily.Bert.Modeling;

/// <summary>
/// The strict rule for loading Hugging Face BERT weights into a module, and the matching writer.
/// </summary>
/// <remarks>
/// Every tensor of the file must be used and every parameter filled with a tensor of its exact shape; anything
/// else is one <see cref="InvalidDataException"/> that names the file and lists every missing, unexpected and
/// mis-shaped tensor (both shapes). Everything is checked before any value is copied, so a refused load leaves the
/// module as it was. Names are compared after dropping a leading <c>bert.</c> on both sides, so a bare encoder
/// checkpoint and a <c>BertFor*</c> checkpoint both load into <see cref="BertModel"/> and <see cref="BertForSequenceClassification"/>.
/// The one tolerated extra is the old <c>embeddings.position_ids</c> buffer, and only when it holds <c>0..P-1</c>.
/// </remarks>
public static class BertCheckpoint
{
    /// <summary>The config file of a checkpoint folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file of a checkpoint folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    private const string BertPrefix = "bert.";
    private const string PositionIds = "embeddings.position_ids";
    private const string PositionTable = "embeddings.position_embeddings.weight";

    /// <summary>A parameter or file name without its leading <c>bert.</c>, the form both sides are matched in.</summary>
    /// <param name="name">A state-dict name.</param>
    /// <returns>The name to match on.</returns>
    public static string CanonicalName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith(BertPrefix, StringComparison.Ordinal) ? name[BertPrefix.Length..] : name;
    }

    /// <summary>Reads a safetensors file and loads it into <paramref name="model"/> strictly.</summary>
    /// <param name="model">The module to fill.</param>
    /// <param name="path">The safetensors file.</param>
    /// <param name="ignorePrefixes">File tensors whose name (with or without <c>bert.</c>) starts with one of these are skipped.</param>
    /// <param name="optionalPrefixes">Model parameters whose name (without <c>bert.</c>) starts with one of these may be absent from the file; they keep their values.</param>
    /// <exception cref="InvalidDataException">The file does not match the model.</exception>
    public static void Load(nn.Module model, string path, IEnumerable<string>? ignorePrefixes = null, IEnumerable<string>? optionalPrefixes = null)
    {
        var (tensors, _) = SafeTensorsFile.Read(path);
        try
        {
            Load(model, tensors, path, ignorePrefixes, optionalPrefixes);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Loads named tensors into <paramref name="model"/> strictly; stored float16, bfloat16 or float64 values are converted to each parameter's dtype.</summary>
    /// <param name="model">The module to fill.</param>
    /// <param name="tensors">The checkpoint's tensors by name; not modified, still owned by the caller.</param>
    /// <param name="source">The file the tensors came from, for messages.</param>
    /// <param name="ignorePrefixes">File tensors whose name (with or without <c>bert.</c>) starts with one of these are skipped.</param>
    /// <param name="optionalPrefixes">Model parameters whose name (without <c>bert.</c>) starts with one of these may be absent from the file; they keep their values.</param>
    /// <exception cref="InvalidDataException">The tensors do not match the model; nothing was copied.</exception>
    public static void Load(nn.Module model, IReadOnlyDictionary<string, Tensor> tensors, string source, IEnumerable<string>? ignorePrefixes = null, IEnumerable<string>? optionalPrefixes = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        var ignored = (ignorePrefixes ?? []).ToArray();
        var optional = (optionalPrefixes ?? []).ToArray();

        var parameters = new Dictionary<string, (string Name, Tensor Value)>(StringComparer.Ordinal);
        foreach (var (name, value) in model.state_dict()) parameters[CanonicalName(name)] = (name, value);

        var missing = new List<string>();
        var unexpected = new List<string>();
        var problems = new List<string>();
        var plan = new List<(Tensor Target, Tensor Source)>();
        var matched = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var (fileName, stored) in tensors.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var name = CanonicalName(fileName);
            if (ignored.Any(p => fileName.StartsWith(p, StringComparison.Ordinal) || name.StartsWith(p, StringComparison.Ordinal))) continue;
            if (seen.TryGetValue(name, out var other))
            {
                problems.Add($"{fileName}: the same tensor as {other} (the file has it both with and without 'bert.')");
                continue;
            }

            seen[name] = fileName;
            if (name == PositionIds && !parameters.ContainsKey(name))
            {
                CheckPositionIds(fileName, stored, parameters, problems, unexpected);
                continue;
            }

            if (!parameters.TryGetValue(name, out var target))
            {
                unexpected.Add(fileName);
                continue;
            }

            matched.Add(name);
            if (!stored.shape.SequenceEqual(target.Value.shape))
                problems.Add($"{fileName}: expected shape {Shape(target.Value.shape)}, found {Shape(stored.shape)}");
            else if (!stored.is_floating_point())
                problems.Add($"{fileName}: stored as {stored.dtype}, not a floating-point type");
            else
                plan.Add((target.Value, stored));
        }

        foreach (var (name, target) in parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
            if (!matched.Contains(name) && !optional.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
                missing.Add(target.Name);

        if (missing.Count + unexpected.Count + problems.Count > 0)
        {
            var message = new StringBuilder($"{source}: the checkpoint does not match the model ({model.GetName()}).");
            if (missing.Count > 0) message.Append($"\n  missing from the file ({missing.Count}): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) message.Append($"\n  unexpected in the file ({unexpected.Count}): {string.Join(", ", unexpected)}");
            foreach (var problem in problems) message.Append($"\n  {problem}");
            throw new InvalidDataException(message.ToString());
        }

        using var guard = no_grad();
        foreach (var (target, stored) in plan) target.copy_(stored);
    }

    /// <summary>Writes <paramref name="config"/> as <c>config.json</c> and the state dict of <paramref name="model"/> as
    /// <c>model.safetensors</c> (its own names, the Hugging Face ones) into <paramref name="directory"/>.</summary>
    /// <param name="model">The module to save.</param>
    /// <param name="config">Its config.</param>
    /// <param name="directory">The folder; created if missing.</param>
    public static void Save(nn.Module model, BertConfig config, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        Directory.CreateDirectory(directory);
        config.Save(Path.Combine(directory, ConfigFileName));
        // transformers refuses a safetensors checkpoint whose metadata lacks format = pt.
        SafeTensorsFile.Write(Path.Combine(directory, WeightsFileName), model.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Reads a checkpoint folder, builds a model for its config and loads it: the model is disposed if loading fails,
    /// and the file's tensors are always freed. Both <c>FromPretrained</c>s go through here.
    /// </summary>
    /// <param name="directory">The folder with <c>config.json</c> and <c>model.safetensors</c>.</param>
    /// <param name="create">Builds the model for the config, seeing the file's tensors (e.g. whether it has a pooler).</param>
    /// <param name="load">Loads the tensors into the model (the weights file's path is for messages).</param>
    internal static TModel Build<TModel>(string directory, Func<BertConfig, IReadOnlyDictionary<string, Tensor>, TModel> create,
        Action<TModel, IReadOnlyDictionary<string, Tensor>, string> load) where TModel : nn.Module
    {
        var (config, path, tensors) = ReadDirectory(directory);
        try
        {
            var model = create(config, tensors);
            try
            {
                load(model, tensors, path);
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Whether the file's tensors include a pooler.</summary>
    internal static bool HasPooler(IReadOnlyDictionary<string, Tensor> tensors) => tensors.Keys.Any(k => CanonicalName(k) == "pooler.dense.weight");

    internal static (BertConfig Config, string WeightsPath, Dictionary<string, Tensor> Tensors) ReadDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var config = BertConfig.Load(Path.Combine(directory, ConfigFileName));
        var path = Path.Combine(directory, WeightsFileName);
        var (tensors, _) = SafeTensorsFile.Read(path);
        return (config, path, tensors);
    }

    private static void CheckPositionIds(string fileName, Tensor stored, Dictionary<string, (string Name, Tensor Value)> parameters, List<string> problems, List<string> unexpected)
    {
        if (!parameters.TryGetValue(PositionTable, out var table))
        {
            unexpected.Add(fileName);
            return;
        }

        var count = table.Value.shape[0];
        var shapeOk = stored.shape.SequenceEqual([1, count]) || stored.shape.SequenceEqual([count]);
        if (!shapeOk)
        {
            problems.Add($"{fileName}: expected shape [1, {count}], found {Shape(stored.shape)}");
            return;
        }

        using var scope = NewDisposeScope();
        if (stored.is_floating_point() || stored.is_complex() || !stored.flatten().to(ScalarType.Int64).eq(arange(count, dtype: ScalarType.Int64)).all().item<bool>())
            problems.Add($"{fileName}: must hold the positions 0..{count - 1} (the only values the encoder computes with)");
    }

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
