using System.Globalization;
using System.Text.Json;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Serialization;

/// <summary>
/// Maps an adapted model's trainable tensors to PEFT's state-dict keys
/// (<c>base_model.model.&lt;module path&gt;.&lt;parameter&gt;</c>, e.g.
/// <c>base_model.model.blocks.0.attn.q_proj.lily_A.weight</c>), for saving in either
/// <see cref="AdapterLayout"/>, and loads such a file back after checking all of it.
/// </summary>
internal static class AdapterStateDict
{
    /// <summary>The prefix PEFT puts before every module path.</summary>
    public const string Prefix = "base_model.model.";

    /// <summary>Metadata entry naming the layout (absent in PEFT's own files).</summary>
    public const string LayoutKey = "lily.layout";

    /// <summary>Metadata entry of a compact file: a JSON object mapping each omitted key to the key that holds its tensor.</summary>
    public const string SharedKey = "lily.shared";

    /// <summary>A key and the parameter it names. A shared parameter has several keys.</summary>
    public readonly record struct Entry(string Key, Parameter Parameter);

    /// <summary>
    /// Every key of one adapter in traversal order: its layers' own parameters (named as the layer names
    /// its modules, <c>lora_A.weight</c>), then modules to save.
    /// </summary>
    public static List<Entry> Entries(IEnumerable<(string Path, AdapterLinear Layer)> layers, IEnumerable<(string Path, nn.Module Module)> modulesToSave)
    {
        var entries = new List<Entry>();
        foreach (var (path, layer) in layers)
        {
            foreach (var (name, p) in layer.named_parameters()) entries.Add(new Entry($"{Prefix}{path}.{layer.FileKeyOf(name)}", p));
        }
        foreach (var (path, module) in modulesToSave)
        {
            foreach (var (name, p) in module.named_parameters()) entries.Add(new Entry($"{Prefix}{path}.{name}", p));
        }
        return entries;
    }

    /// <summary>The tensors and metadata to write for <paramref name="layout"/>.</summary>
    public static (List<KeyValuePair<string, Tensor>> Tensors, Dictionary<string, string> Metadata) ForSave(List<Entry> entries, AdapterLayout layout)
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (layout == AdapterLayout.Peft)
            return (entries.Select(e => KeyValuePair.Create(e.Key, (Tensor)e.Parameter)).ToList(), metadata);

        // Compact: the first key of each tensor holds it; every later key points there.
        var storedKey = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var shared = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, p) in entries)
        {
            if (storedKey.TryGetValue(p, out var first))
            {
                shared[key] = first;
            }
            else
            {
                storedKey[p] = key;
                tensors.Add(KeyValuePair.Create(key, (Tensor)p));
            }
        }
        metadata[LayoutKey] = "compact";
        metadata[SharedKey] = JsonSerializer.Serialize(shared);
        return (tensors, metadata);
    }

    /// <summary>
    /// Checks that <paramref name="file"/> holds exactly the tensors <paramref name="entries"/> need,
    /// with the right shapes, and that copies of a shared tensor agree; only then copies them in.
    /// On any problem it throws and no parameter has changed.
    /// </summary>
    /// <param name="entries">The keys the model expects.</param>
    /// <param name="file">The validated safetensors file.</param>
    /// <param name="strict">When false, missing and unexpected keys are tolerated (shape errors never are).</param>
    /// <returns>The keys that were missing and the keys that were unexpected (empty when strict).</returns>
    public static (IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected) Load(List<Entry> entries, SafeTensorsReader file, bool strict)
    {
        var shared = ReadSharedMap(file);
        var expected = entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        var misshaped = new List<string>();
        var sources = new List<(Entry Entry, string Source)>();

        foreach (var entry in entries)
        {
            string? source = file.TryGetEntry(entry.Key, out _) ? entry.Key
                : shared.TryGetValue(entry.Key, out var stored) ? stored
                : null;
            if (source is null)
            {
                missing.Add(entry.Key);
                continue;
            }
            var stored2 = file[source];
            var want = entry.Parameter.shape;
            if (!stored2.Shape.SequenceEqual(want))
                misshaped.Add($"{entry.Key}: file has [{string.Join(", ", stored2.Shape)}], the model needs [{string.Join(", ", want)}]");
            else if (!stored2.DType.TryGetScalarType(out var dtype) || dtype is not (ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64))
                misshaped.Add($"{entry.Key}: file has dtype {stored2.DType.ToHeaderString()}, a floating-point tensor is needed");
            else
                sources.Add((entry, source));
        }
        var unexpected = file.Names.Where(n => !expected.Contains(n)).ToList();

        if (misshaped.Count > 0)
            throw new InvalidDataException($"{file.SourceName}: {misshaped.Count} tensor(s) do not fit the model: {Listing(misshaped)}");
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing {missing.Count} key(s): {Listing(missing)}");
            if (unexpected.Count > 0) problems.Add($"unexpected {unexpected.Count} key(s): {Listing(unexpected)}");
            throw new InvalidDataException(
                $"{file.SourceName} does not match the adapted model ({string.Join("; ", problems)}). " +
                "Check that the model and the adapter_config.json are the ones the adapter was trained with.");
        }

        using var scope = NewDisposeScope();
        var values = new Dictionary<Tensor, (string Key, Tensor Value)>(ReferenceEqualityComparer.Instance);
        foreach (var (entry, source) in sources)
        {
            var value = file.ToTensor(source);
            if (values.TryGetValue(entry.Parameter, out var first))
            {
                // PEFT writes a shared tensor once per layer; the copies must agree, or the file
                // does not come from the sharing this config describes.
                if (CopyDifference(first.Value, value) is double diff)
                {
                    throw new InvalidDataException(
                        $"{file.SourceName}: '{first.Key}' and '{entry.Key}' are copies of one shared tensor but differ " +
                        $"(largest difference {diff.ToString("G4", CultureInfo.InvariantCulture)}). The file's sharing does not match " +
                        "this config's (target modules, stride_A, shapes).");
                }
                continue;
            }
            values[entry.Parameter] = (entry.Key, value);
        }

        using (no_grad())
        {
            foreach (var (parameter, (_, value)) in values)
                parameter.copy_(value.to(parameter.dtype, parameter.device));
        }
        return (missing, unexpected);
    }

    /// <summary>
    /// The first two keys of <paramref name="file"/> that name one shared tensor of <paramref name="entries"/>
    /// but hold different values, and their largest difference; null when every copy agrees or nothing is
    /// shared. Keys absent from the file or that do not fit are skipped (<see cref="Load"/> reports them).
    /// </summary>
    public static (string First, string Other, double Difference)? FirstDifferingCopies(List<Entry> entries, SafeTensorsReader file)
    {
        using var scope = NewDisposeScope();
        var firsts = new Dictionary<Tensor, (string Key, Tensor Value)>(ReferenceEqualityComparer.Instance);
        foreach (var entry in entries)
        {
            if (!file.TryGetEntry(entry.Key, out var stored) || !stored.Shape.SequenceEqual(entry.Parameter.shape)
                || !stored.DType.TryGetScalarType(out var dtype) || !torch.is_floating_point(dtype)) continue;
            var value = file.ToTensor(entry.Key);
            if (!firsts.TryGetValue(entry.Parameter, out var first)) firsts[entry.Parameter] = (entry.Key, value);
            else if (CopyDifference(first.Value, value) is double diff) return (first.Key, entry.Key, diff);
        }
        return null;
    }

    // Null when two copies are equal bit for bit (NaN equal to NaN), else their largest difference.
    private static double? CopyDifference(Tensor first, Tensor other) =>
        first.allclose(other, rtol: 0, atol: 0, equal_nan: true) ? null
            : (first.to(ScalarType.Float64) - other.to(ScalarType.Float64)).abs().max().item<double>();

    private static Dictionary<string, string> ReadSharedMap(SafeTensorsReader file)
    {
        if (!file.Metadata.TryGetValue(SharedKey, out var json)) return new();
        Dictionary<string, string>? map;
        try
        {
            map = JsonSerializer.Deserialize<Dictionary<string, string>>(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file.SourceName}: metadata '{SharedKey}' is not a JSON object of key names ({e.Message}).", e);
        }
        foreach (var (omitted, stored) in map ?? new())
        {
            if (!file.TryGetEntry(stored, out _))
                throw new InvalidDataException($"{file.SourceName}: metadata '{SharedKey}' maps '{omitted}' to '{stored}', which the file does not hold.");
        }
        return map ?? new();
    }

    private static string Listing(List<string> items) =>
        string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", … ({items.Count - 8} more)" : "");
}
