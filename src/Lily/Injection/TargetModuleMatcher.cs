using System.Text.RegularExpressions;
using Lily.Matching;
using Lily.Tuners;

namespace Lily.Injection;

/// <summary>
/// Decides whether a module path is named by a list or a pattern, by PEFT's rules: a list entry
/// matches a path that equals it or ends with <c>"." + entry</c>; a regular expression must match the
/// whole path (and runs with a timeout, since it may come from a file).
/// </summary>
internal sealed class TargetModuleMatcher
{
    private readonly IReadOnlyList<string>? names;
    private readonly Regex? regex;
    private readonly string? pattern;
    private readonly string field;
    private readonly MatchBudget budget;

    private TargetModuleMatcher(IReadOnlyList<string>? names, string? pattern, string field, MatchBudget? budget)
    {
        this.names = names;
        this.pattern = pattern;
        regex = pattern is null ? null : PathPattern.CompileFullMatch(pattern, field);
        this.field = field;
        this.budget = budget ?? new MatchBudget();
    }

    /// <summary>A matcher for a list of names (or a suffix of a path).</summary>
    public static TargetModuleMatcher ForNames(IReadOnlyList<string> names, string field = nameof(PeftConfig.TargetModules)) => new(names, null, field, null);

    /// <summary>A matcher for a regular expression over the full path; its matches are charged to <paramref name="budget"/>.</summary>
    public static TargetModuleMatcher ForRegex(string pattern, string field = nameof(PeftConfig.TargetModulesRegex), MatchBudget? budget = null) =>
        new(null, pattern, field, budget);

    /// <summary>The matcher for a config's target modules.</summary>
    public static TargetModuleMatcher ForTargets(PeftConfig config, MatchBudget? budget = null) =>
        config.TargetModulesRegex is { Length: > 0 } pattern ? ForRegex(pattern, budget: budget) : ForNames(config.TargetModules ?? []);

    /// <summary>The matcher for a config's excluded modules, or null when nothing is excluded.</summary>
    public static TargetModuleMatcher? ForExclusions(PeftConfig config, MatchBudget? budget = null) =>
        config.ExcludeModulesRegex is { Length: > 0 } pattern ? ForRegex(pattern, nameof(PeftConfig.ExcludeModulesRegex), budget)
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
        if (regex is not null) return PathPattern.IsFullMatch(regex, path, field, budget) ? pattern : null;
        return names!.LastOrDefault(name => path == name || path.EndsWith("." + name, StringComparison.Ordinal));
    }

    /// <inheritdoc />
    public override string ToString() => regex is not null ? $"regex {pattern}" : $"[{string.Join(", ", names!)}]";
}
