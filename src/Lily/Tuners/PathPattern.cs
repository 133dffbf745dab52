using System.Text.RegularExpressions;

namespace Lily;

/// <summary>
/// The one place where user regular expressions over module paths are compiled and run, so every
/// field behaves as PEFT's <c>re.fullmatch</c> and no pattern can hang the process.
/// </summary>
internal static class PathPattern
{
    /// <summary>
    /// Longest time one match may take. Module paths are short, so an honest pattern needs
    /// microseconds; only catastrophic backtracking comes near this.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>Compiles <paramref name="pattern"/> so that it must match a whole path (PEFT's <c>re.fullmatch</c>).</summary>
    /// <param name="pattern">The user's expression.</param>
    /// <param name="field">The config field it came from, named in errors.</param>
    /// <exception cref="ArgumentException">The pattern is not a valid .NET regular expression.</exception>
    public static Regex CompileFullMatch(string pattern, string field)
    {
        try
        {
            // The group keeps an alternation such as "a|b" inside the anchors.
            return new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, MatchTimeout);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{field} is not a valid regular expression: {e.Message}", field, e);
        }
    }

    /// <summary>True when <paramref name="regex"/> (from <see cref="CompileFullMatch"/>) matches <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">The match ran out of time; the message names <paramref name="field"/> and the path.</exception>
    public static bool IsFullMatch(Regex regex, string path, string field)
    {
        try
        {
            return regex.IsMatch(path);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new ArgumentException($"the regular expression in {field} took too long on '{path}' (catastrophic backtracking?)", field, e);
        }
    }
}
