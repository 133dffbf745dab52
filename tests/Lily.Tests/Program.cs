using Lily.Serialization;
using Lily.Tests.Serialization;

namespace Lily.Tests;

/// <summary>
/// The test assembly's entry point. Test runners never call it; a test starts it with <c>dotnet exec</c> to get a
/// second process that works on the same files (see ConcurrentAdapterAccessTests).
/// </summary>
public static class Program
{
    /// <summary>
    /// <c>read-adapter &lt;folder&gt; &lt;reference-root&gt; &lt;seconds&gt;</c>: loads and checks in a loop, prints a summary.
    /// <c>stress-adapter &lt;seconds&gt;</c>: one writer and two readers in this process on a temporary folder, prints the counts.
    /// <c>load-unprivileged &lt;folder&gt;</c>: as the user nobody, loads the adapter and prints the model's output.
    /// <c>read-configs-first &lt;folder&gt;...</c>: reads each folder's config as the process's first use of the
    /// library (before anything names a method) and prints its <c>peft_type</c>, or the error's message.
    /// </summary>
    public static int Main(string[] args)
    {
        if (args is ["read-configs-first", .. var folders]) return Tuners.BuiltInRegistrationTests.ReadConfigsFirst(folders);
        torch.set_num_threads(1);
        if (args is ["load-unprivileged", var folder]) return Trust.ReadOnlyLoadTests.LoadAsNobody(folder);
        if (args is ["stress-adapter", var duration]) return Stress(TimeSpan.FromSeconds(double.Parse(duration, System.Globalization.CultureInfo.InvariantCulture)));
        if (args is not ["read-adapter", var directory, var referenceRoot, var seconds]) return 2;
        var (loads, problems) = AdapterVersions.ReadFor(directory, referenceRoot, TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)));
        Console.WriteLine($"loads={loads} problems={problems.Count}");
        foreach (var problem in problems.Distinct().Take(5)) Console.WriteLine(problem);
        return problems.Count == 0 ? 0 : 1;
    }

    private static int Stress(TimeSpan duration)
    {
        var root = Directory.CreateTempSubdirectory("lily-stress-").FullName;
        try
        {
            var shared = Path.Combine(root, "shared");
            var versions = new AdapterVersions(Path.Combine(root, "versions"));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var writer = Task.Factory.StartNew(() => versions.WriteUntil(shared, () => clock.Elapsed > duration), TaskCreationOptions.LongRunning);
            while (!Directory.Exists(shared) || !File.Exists(Path.Combine(shared, Lily.Serialization.AdapterConfigFile.FileName))) Thread.Sleep(1);
            var readers = Enumerable.Range(0, 2)
                .Select(_ => Task.Factory.StartNew(() => AdapterVersions.ReadFor(shared, versions.ReferenceRoot, duration - clock.Elapsed), TaskCreationOptions.LongRunning))
                .ToArray();
            var (saves, saveProblems) = writer.Result;
            var reads = readers.Select(r => r.Result).ToList();
            Console.WriteLine($"seconds={duration.TotalSeconds} saves={saves} save_problems={saveProblems.Count} " +
                $"loads={reads.Sum(r => r.Loads)} load_problems={reads.Sum(r => r.Problems.Count)}");
            foreach (var problem in saveProblems.Concat(reads.SelectMany(r => r.Problems)).Distinct().Take(5)) Console.WriteLine(problem);
            return saveProblems.Count + reads.Sum(r => r.Problems.Count) == 0 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
