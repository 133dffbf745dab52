using System.Text.RegularExpressions;

namespace Lily;

/// <summary>Compiles and runs the user's regular expressions over module paths (full match, with a timeout).</summary>
internal static class PathPattern
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(200);

    /// <summary>A regex that must match a whole path.</summary>
    public static Regex CompileFullMatch(string pattern, string field)
    {
        try
        {
            return new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, Timeout);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{field} is not a valid regular expression: {e.Message}", field, e);
        }
    }

    /// <summary>True when <paramref name="regex"/> matches all of <paramref name="path"/>.</summary>
    public static bool IsFullMatch(Regex regex, string path, string field)
    {
        try
        {
            return regex.IsMatch(path);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new ArgumentException($"The regular expression in {field} took too long on '{path}' (catastrophic backtracking?).", field, e);
        }
    }
}
