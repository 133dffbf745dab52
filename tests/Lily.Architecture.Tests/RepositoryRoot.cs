namespace Lily.Architecture.Tests;

/// <summary>Finds the repository's root from the test's output folder (the folder holding Lily.sln).</summary>
public static class RepositoryRoot
{
    /// <summary>The root folder; throws when the tests run outside a checkout.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Lily.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No Lily.sln above {AppContext.BaseDirectory}: the architecture tests read the checkout's source files.");
    }
}
