using System.Text.RegularExpressions;

namespace Lily;

/// <summary>
/// Decides whether a module path is named by a list or a pattern, by PEFT's rules: a list entry
/// matches a path that equals it or ends with <c>"." + entry</c>; a regular expression must match the
/// whole path (and runs with a timeout, since it may come from a file).
/// </summary>
internal sealed class TargetModuleMatcher
{
    private readonly IReadOnlyList<string>? names;
    private readonly Regex? regex;
    private readonly string field;

    private TargetModuleMatcher(IReadOnlyList<string>? names, Regex? regex, string field)
    {
        this.names = names;
        this.regex = regex;
        this.field = field;
    }

    /// <summary>A matcher for a list of names (or a suffix of a path).</summary>
    public static TargetModuleMatcher ForNames(IReadOnlyList<string> names, string field = nameof(PeftConfig.TargetModules)) => new(names, null, field);

    /// <summary>A matcher for a regular expression over the full path.</summary>
    public static TargetModuleMatcher ForRegex(string pattern, string field = nameof(PeftConfig.TargetModulesRegex)) =>
        new(null, PathPattern.CompileFullMatch(pattern, field), field);

    /// <summary>The matcher for a config's target modules.</summary>
    public static TargetModuleMatcher ForTargets(PeftConfig config) =>
        config.TargetModulesRegex is { Length: > 0 } pattern ? ForRegex(pattern) : ForNames(config.TargetModules ?? []);

    /// <summary>The matcher for a config's excluded modules, or null when nothing is excluded.</summary>
    public static TargetModuleMatcher? ForExclusions(PeftConfig config) =>
        config.ExcludeModulesRegex is { Length: > 0 } pattern ? ForRegex(pattern, nameof(PeftConfig.ExcludeModulesRegex))
        : config.ExcludeModules is { Count: > 0 } names ? ForNames(names, nameof(PeftConfig.ExcludeModules))
        : null;

    /// <summary>True when <paramref name="path"/> is named.</summary>
    public bool IsMatch(string path) => MatchedEntry(path) is not null;

    /// <summary>
    /// The entry that names <paramref name="path"/>: the last list entry it matches (as PEFT's Lily
    /// grouping takes the last match), or the pattern itself for a regex; null if none.
    /// </summary>
    public string? MatchedEntry(string path)
    {
        if (regex is not null) return PathPattern.IsFullMatch(regex, path, field) ? Pattern : null;
        return names!.LastOrDefault(name => path == name || path.EndsWith("." + name, StringComparison.Ordinal));
    }

    // The user's pattern, without the anchors added to make it a full match.
    private string Pattern => regex!.ToString()[4..^2];

    /// <inheritdoc />
    public override string ToString() => regex is not null ? $"regex {Pattern}" : $"[{string.Join(", ", names!)}]";
}
