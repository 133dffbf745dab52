using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// A mixed-adapter batch (PEFT's <c>adapter_names=</c> at inference): sample <c>i</c> of the batch runs
/// with adapter <c>names[i]</c>, or with none for <see cref="BaseName"/>. Every adapted layer computes
/// its base output for the whole batch, then, for each adapter named, gathers that adapter's samples
/// (input rows and base output rows), applies the adapter to them as one sub-batch and writes the
/// result back into their rows — PEFT's <c>_mixed_batch_forward</c>. A sample whose adapter does not
/// adapt a layer gets the base output there, as in PEFT.
/// </summary>
/// <remarks>
/// The sub-batch is what an adapter sees, so an adapter whose update depends on the batch
/// (<see cref="IRoutedAdapter.MixesAcrossBatch"/>, Lily's default batch-mean routing) routes each adapter's samples together, exactly as if they were
/// run alone as one batch. The layer's input must carry the batch in its first dimension, one entry
/// per name.
/// </remarks>
internal sealed class PerSampleAdapters : IDisposable
{
    /// <summary>PEFT's name for "no adapter" in <c>adapter_names</c>.</summary>
    public const string BaseName = "__base__";

    private readonly IReadOnlyList<string> names;
    // Each adapter's sample indices, in order of first appearance; __base__ has none (base output stays).
    private readonly List<(string Adapter, long[] Samples, bool IsRun)> groups;
    // The index tensors by device, made once per scope rather than once per layer.
    private readonly Dictionary<string, Tensor[]> indexTensors = new(StringComparer.Ordinal);

    public PerSampleAdapters(IReadOnlyList<string> names)
    {
        this.names = names;
        groups = names.Select((name, i) => (name, i)).Where(p => p.name != BaseName)
            .GroupBy(p => p.name, StringComparer.Ordinal)
            .Select(g => g.Select(p => (long)p.i).ToArray() is var samples ? (g.Key, samples, IsRun(samples)) : default).ToList();
    }

    // Samples i, i+1, … i+n-1: the group's rows are one slice of the batch, so views replace copies.
    private static bool IsRun(long[] samples) => samples.Select((s, k) => s - k).Distinct().Count() == 1;

    /// <summary>The adapter of each sample.</summary>
    public IReadOnlyList<string> Names => names;

    /// <summary>
    /// Writes each named adapter's output into <paramref name="baseRows"/> (the base output of
    /// <paramref name="site"/> for <paramref name="input"/>, as rows <c>[N, d_out]</c>), in place, and returns it.
    /// </summary>
    /// <exception cref="ArgumentException">The input's first dimension is not one entry per name.</exception>
    /// <exception cref="InvalidOperationException">The layer is in training mode, or one of its adapters is merged.</exception>
    public Tensor Apply(AdapterSite site, Tensor input, Tensor baseRows)
    {
        if (input.dim() < 2 || input.shape[0] != names.Count)
            throw new ArgumentException(
                $"'{site.Path}' got an input of shape [{string.Join(", ", input.shape)}] in a mixed-adapter batch of {names.Count} adapter names: " +
                "each layer's input must hold the batch in its first dimension, one sample per name.", nameof(input));
        if (site.BaseLayer.training)
            throw new InvalidOperationException($"'{site.Path}' is in training mode: mixed-adapter batches are for inference (call eval() on the model).");
        if (site.Adapters.Values.FirstOrDefault(a => a.Merged) is not null)
            throw new InvalidOperationException($"'{site.Path}' has a merged adapter: unmerge it before running a mixed-adapter batch (PEFT refuses too).");
        // One adapter for every sample: the plain path, no gathering.
        if (groups.Count == 1 && groups[0].Samples.Length == names.Count)
            return site.Adapters.TryGetValue(groups[0].Adapter, out var only) ? only.AddUpdate(input, baseRows) : baseRows;
        long outFeatures = baseRows.shape[^1];
        var perSample = baseRows.view(names.Count, -1, outFeatures);
        var indices = IndicesOn(input.device);
        for (int g = 0; g < groups.Count; g++)
        {
            if (!site.Adapters.TryGetValue(groups[g].Adapter, out var layer)) continue;
            using var scope = NewDisposeScope();
            var samples = groups[g].Samples;
            if (groups[g].IsRun)
            {
                // A slice of a contiguous tensor along its first dimension is a view: the update is added into it in place.
                var slice = perSample.narrow(0, samples[0], samples.Length);
                layer.AddUpdate(input.narrow(0, samples[0], samples.Length), slice.view(-1, outFeatures));
                continue;
            }
            var index = indices[g];
            var rows = Gather(perSample, index);
            var updated = layer.AddUpdate(Gather(input, index), rows.reshape(-1, outFeatures));
            perSample.index_copy_(0, index, updated.view(rows.shape));
        }
        return baseRows;
    }

    // index_select is the fast gather on CPU but has no meta-device kernel; advanced indexing (aten::index) has one.
    private static Tensor Gather(Tensor source, Tensor index) =>
        source.device_type == DeviceType.META ? source[TensorIndex.Tensor(index)] : source.index_select(0, index);

    private Tensor[] IndicesOn(Device device)
    {
        var key = device.ToString();
        if (!indexTensors.TryGetValue(key, out var tensors))
        {
            tensors = groups.Select(g => tensor(g.Samples, dtype: ScalarType.Int64).to(device).DetachFromDisposeScope()).ToArray();
            indexTensors.Add(key, tensors);
        }
        return tensors;
    }

    /// <summary>Frees the index tensors.</summary>
    public void Dispose()
    {
        foreach (var t in indexTensors.Values.SelectMany(x => x)) t.Dispose();
        indexTensors.Clear();
    }
}
