using Lily.Tests.Serialization;

namespace Lily.Tests;

/// <summary>
/// The test assembly's entry point. Test runners never call it; a test starts it with <c>dotnet exec</c> to get a
/// second process that works on the same files (see ConcurrentAdapterAccessTests).
/// </summary>
public static class Program
{
    /// <summary><c>read-adapter &lt;folder&gt; &lt;reference-root&gt; &lt;seconds&gt;</c>: loads and checks in a loop, prints a summary.</summary>
    public static int Main(string[] args)
    {
        if (args is not ["read-adapter", var directory, var referenceRoot, var seconds]) return 2;
        torch.set_num_threads(1);
        var (loads, problems) = AdapterVersions.ReadFor(directory, referenceRoot, TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)));
        Console.WriteLine($"loads={loads} problems={problems.Count}");
        foreach (var problem in problems.Distinct().Take(5)) Console.WriteLine(problem);
        return problems.Count == 0 ? 0 : 1;
    }
}
