namespace Lily.Matching;

/// <summary>
/// PEFT's per-layer overrides (<c>rank_pattern</c>, <c>alpha_pattern</c>): a key matches a module's full
/// path when the path is the key or ends in <c>.key</c>, the key read as a regular expression
/// (<c>re.match(rf"(.*\.)?({key})$", path)</c> in PEFT's <c>get_pattern_key</c>). The first matching key,
/// in the dictionary's order, wins.
/// </summary>
internal static class PatternKey
{
    /// <summary>The value of the first key of <paramref name="pattern"/> matching <paramref name="path"/>, or <paramref name="fallback"/>.</summary>
    /// <param name="pattern">Keys (regular expressions) and values, in the order they are tried; null for none.</param>
    /// <param name="path">A module's full dotted path.</param>
    /// <param name="fallback">The value when no key matches (the config's global value).</param>
    /// <param name="field">The config field, named in errors.</param>
    /// <exception cref="ArgumentException">A key is not a valid regular expression, or a match ran out of time.</exception>
    public static T Resolve<T>(IReadOnlyDictionary<string, T>? pattern, string path, T fallback, string field)
    {
        if (pattern is null) return fallback;
        foreach (var (key, value) in pattern)
        {
            if (PathPattern.IsFullMatch(Compile(key, field), path, field)) return value;
        }
        return fallback;
    }

    /// <summary>Checks every key compiles, so a bad key fails at validation, not at injection.</summary>
    public static void Validate<T>(IReadOnlyDictionary<string, T>? pattern, string field)
    {
        foreach (var key in pattern?.Keys ?? [])
        {
            if (string.IsNullOrEmpty(key)) throw new ArgumentException($"{field} has an empty key.", field);
            _ = Compile(key, field);
        }
    }

    private static System.Text.RegularExpressions.Regex Compile(string key, string field) =>
        PathPattern.CompileFullMatch($@"(.*\.)?({key})", $"{field} key '{key}'");
}
