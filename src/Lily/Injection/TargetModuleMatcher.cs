using System.Text.RegularExpressions;

namespace Lily;

/// <summary>
/// Decides whether a module path is targeted, by PEFT's rules: a list entry matches a path that
/// equals it or ends with <c>"." + entry</c>; a regular expression must match the whole path.
/// </summary>
internal sealed class TargetModuleMatcher
{
    private readonly IReadOnlyList<string>? names;
    private readonly Regex? regex;

    private TargetModuleMatcher(IReadOnlyList<string>? names, Regex? regex)
    {
        this.names = names;
        this.regex = regex;
    }

    /// <summary>A matcher for a list of names (or a suffix of a path).</summary>
    public static TargetModuleMatcher ForNames(IReadOnlyList<string> names) => new(names, null);

    /// <summary>A matcher for a regular expression over the full path.</summary>
    public static TargetModuleMatcher ForRegex(string pattern) =>
        new(null, new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant));

    /// <summary>The matcher for a config's target modules.</summary>
    public static TargetModuleMatcher ForTargets(PeftConfig config) =>
        config.TargetModulesRegex is { Length: > 0 } pattern ? ForRegex(pattern) : ForNames(config.TargetModules ?? []);

    /// <summary>True when <paramref name="path"/> is targeted.</summary>
    public bool IsMatch(string path) => MatchedEntry(path) is not null;

    /// <summary>
    /// The entry that targets <paramref name="path"/>: the last list entry it matches (as PEFT's
    /// Lily grouping takes the last match), or the pattern itself for a regex; null if none.
    /// </summary>
    public string? MatchedEntry(string path)
    {
        if (regex is not null) return regex.IsMatch(path) ? regex.ToString() : null;
        return names!.LastOrDefault(name => path == name || path.EndsWith("." + name, StringComparison.Ordinal));
    }

    /// <inheritdoc />
    public override string ToString() => regex is not null ? $"regex {regex}" : $"[{string.Join(", ", names!)}]";
}
