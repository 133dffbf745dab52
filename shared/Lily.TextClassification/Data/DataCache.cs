namespace Lily.TextClassification.Data;

/// <summary>
/// Where the sample keeps downloaded data sets: an explicit folder (the <c>--data</c> option), else the
/// <c>LILY_DATA_CACHE</c> environment variable, else <c>~/.cache/lily-datasets</c>.
/// </summary>
public static class DataCache
{
    /// <summary>The environment variable that overrides the default cache folder.</summary>
    public const string EnvironmentVariable = "LILY_DATA_CACHE";

    /// <summary>Resolves the cache folder (not created here).</summary>
    /// <param name="dataFolder">An explicit folder, or null to use the environment or the default.</param>
    /// <returns>The absolute path of the cache folder.</returns>
    public static string ResolveRoot(string? dataFolder = null)
    {
        if (!string.IsNullOrWhiteSpace(dataFolder))
        {
            return Path.GetFullPath(dataFolder);
        }

        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return Path.GetFullPath(fromEnvironment);
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache", "lily-datasets");
    }
}
