using System.Text.RegularExpressions;

namespace Lily.Matching;

/// <summary>
/// The one place where user regular expressions over module paths are compiled and run, so every
/// field behaves as PEFT's <c>re.fullmatch</c>, means what Python's <c>re</c> means (see
/// <see cref="PythonRegex"/>), and no pattern can hang the process.
/// </summary>
internal static class PathPattern
{
    /// <summary>
    /// Longest time one match may take. Module paths are short, so an honest pattern needs
    /// microseconds; only catastrophic backtracking comes near this. All matches of one config
    /// share a <see cref="MatchBudget"/> as well.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>Compiles <paramref name="pattern"/> so that it must match a whole path (PEFT's <c>re.fullmatch</c>).</summary>
    /// <param name="pattern">The user's expression, as Python's <c>re</c> reads it.</param>
    /// <param name="field">The config field it came from, named in errors.</param>
    /// <exception cref="PathPatternException">The pattern is invalid, or Python would read it differently.</exception>
    public static Regex CompileFullMatch(string pattern, string field) =>
        // The group keeps an alternation such as "a|b" inside the anchors; \z is Python's end of string.
        Compile($"^(?:{PythonRegex.ToDotNet(pattern, field)})\\z", pattern, field);

    /// <summary>
    /// Compiles an expression that embeds the user's <paramref name="pattern"/> (as PEFT does with
    /// <c>layers_pattern</c>): <paramref name="build"/> gets the checked .NET spelling, in a non-capturing group.
    /// </summary>
    /// <exception cref="PathPatternException">The pattern is invalid, Python would read it differently, or it would change the expression around it.</exception>
    public static Regex CompileEmbedded(string pattern, string field, Func<string, string> build) =>
        Compile(build($"(?:{PythonRegex.ToDotNet(pattern, field, embedded: true)})"), pattern, field);

    private static Regex Compile(string expression, string pattern, string field)
    {
        try
        {
            return new Regex(expression, RegexOptions.CultureInvariant, MatchTimeout);
        }
        catch (ArgumentException e)
        {
            throw new PathPatternException($"{field} is not a valid regular expression ('{pattern}'): {e.Message}", field, e);
        }
    }

    /// <summary>True when <paramref name="regex"/> (from <see cref="CompileFullMatch"/>) matches <paramref name="path"/>.</summary>
    /// <param name="regex">The compiled pattern.</param>
    /// <param name="path">The module path.</param>
    /// <param name="field">The config field, named in errors.</param>
    /// <param name="budget">The time all matches of the config share; a fresh one when null.</param>
    /// <exception cref="PathPatternException">The match ran out of time; the message names <paramref name="field"/> and the path.</exception>
    public static bool IsFullMatch(Regex regex, string path, string field, MatchBudget? budget = null) =>
        (budget ?? new MatchBudget()).Run(() => regex.IsMatch(path), field, path);
}
