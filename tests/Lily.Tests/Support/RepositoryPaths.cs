namespace Lily.Tests.Support;

/// <summary>Locates files of the repository from the test output folder.</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding Lily.sln.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lily.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("Lily.sln not found above the test output folder.");
    }
}
