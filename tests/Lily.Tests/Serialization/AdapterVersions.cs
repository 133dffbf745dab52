using System.Diagnostics;
using System.Runtime.InteropServices;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;
using static Lily.Tests.Serialization.AdapterFiles;
using static TorchSharp.torch;

namespace Lily.Tests.Serialization;

/// <summary>
/// Numbered versions of one LoRA adapter, each saved once into its own reference folder, so that any pair read from
/// a shared folder can be checked byte for byte against the version its config names. Version k has lora_alpha k + 1
/// and every adapter value (k + 1) / 8, so a config and weights from different versions never agree.
/// </summary>
internal sealed class AdapterVersions
{
    public const int Count = 6;

    private readonly List<PeftModel<ToyModel>> models = [];

    public AdapterVersions(string referenceRoot)
    {
        ReferenceRoot = referenceRoot;
        for (int k = 0; k < Count; k++)
        {
            var peft = Create(k);
            peft.Save(Reference(k));
            models.Add(peft);
        }
    }

    /// <summary>Holds one folder per version, named by its number.</summary>
    public string ReferenceRoot { get; }

    private string Reference(int k) => Path.Combine(ReferenceRoot, k.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static ToyModel Base()
    {
        manual_seed(5);
        return new ToyModel(depth: 2, dim: 32, hidden: 64, classes: 3);
    }

    private static PeftModel<ToyModel> Create(int k)
    {
        var peft = PeftModel.Create(Base(), new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 4, LoraAlpha = k + 1 });
        using (no_grad())
        {
            foreach (var p in peft.TrainableParameters()) p.fill_((k + 1) / 8.0);
        }
        return peft;
    }

    /// <summary>Saves version <paramref name="k"/> into <paramref name="directory"/>; then the raw files must be its reference's, byte for byte.</summary>
    /// <remarks>
    /// Each rename is followed by a short pause (through the save's test hook), so that readers often find the
    /// folder between the two renames, where a mix would come from: without it that moment lasts microseconds and a
    /// reader that does not check would still pass most runs.
    /// </remarks>
    public string? SaveAndCheck(int k, string directory)
    {
        models[k].SaveWithFaultHook(directory, AdapterLayout.Peft, (_, step) =>
        {
            if (step.StartsWith(AdapterFilePair.Steps.Renamed, StringComparison.Ordinal)) Thread.Sleep(2);
        });
        // One writer: nothing but readers (which change nothing) can touch the folder until the next save.
        foreach (var name in new[] { AdapterConfigFile.FileName, PeftModel.WeightsFileName })
        {
            if (!File.ReadAllBytes(Path.Combine(directory, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(Reference(k), name))))
                return $"after saving version {k}, {name} is not version {k}'s";
        }
        return null;
    }

    /// <summary>Saves version after version into <paramref name="directory"/> until <paramref name="stop"/>; returns (saves, problems).</summary>
    public (int Saves, List<string> Problems) WriteUntil(string directory, Func<bool> stop)
    {
        var problems = new List<string>();
        int saves = 0;
        while (!stop())
        {
            using var scope = NewDisposeScope();
            try
            {
                if (SaveAndCheck(saves % Count, directory) is { } problem) problems.Add(problem);
            }
            catch (Exception e)
            {
                problems.Add($"save {saves}: {e.GetType().Name}: {e.Message}");
            }
            saves++;
        }
        return (saves, problems);
    }

    /// <summary>A model to load into (its own adapter is version 0's config).</summary>
    public static PeftModel<ToyModel> Reader() =>
        PeftModel.Create(Base(), new LoraConfig { TargetModules = ["q_proj", "v_proj"], R = 4 });

    /// <summary>Loads <paramref name="directory"/> into <paramref name="reader"/>; null when it is exactly one version's pair, else what is wrong.</summary>
    public static string? LoadAndCheck(PeftModel<ToyModel> reader, string directory, string referenceRoot)
    {
        reader.LoadAdapter(directory, "x", isTrainable: true);
        try
        {
            var config = (LoraConfig)reader.Configs["x"];
            int k = (int)config.LoraAlpha - 1;
            var reference = Path.Combine(referenceRoot, k.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!Directory.Exists(reference)) return $"the config names version {k}, which was never saved";
            if (AdapterConfigFile.ToJson(config) != File.ReadAllText(ConfigPath(reference)))
                return $"the config is not version {k}'s";
            var weights = SafeTensorsReader.ReadFile(WeightsPath(reference));
            foreach (var entry in reader.StateDictEntries("x"))
            {
                var loaded = entry.Parameter.detach().contiguous().data<float>().ToArray();
                if (!MemoryMarshal.AsBytes(loaded.AsSpan()).SequenceEqual(weights[entry.Key].Data.Span))
                    return $"{entry.Key} is not version {k}'s (config and weights come from different saves)";
            }
            return null;
        }
        finally
        {
            reader.DeleteAdapter("x");
        }
    }

    /// <summary>Loads in a loop for <paramref name="duration"/>; returns (loads, problems).</summary>
    public static (int Loads, List<string> Problems) ReadFor(string directory, string referenceRoot, TimeSpan duration)
    {
        var reader = Reader();
        var problems = new List<string>();
        int loads = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            using var scope = NewDisposeScope();
            try
            {
                if (LoadAndCheck(reader, directory, referenceRoot) is { } problem) problems.Add(problem);
                loads++;
            }
            catch (Exception e)
            {
                problems.Add($"{e.GetType().Name}: {e.Message}");
            }
        }
        return (loads, problems);
    }
}
