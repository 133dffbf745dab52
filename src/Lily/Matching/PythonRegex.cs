using System.Text;

namespace Lily.Matching;

/// <summary>
/// Checks that a pattern from a config means the same in .NET as in Python's <c>re</c> (which PEFT uses), and
/// spells the few constructs the two write differently (<c>(?P&lt;name&gt;…)</c>, <c>(?P=name)</c>, <c>\Z</c>) the
/// .NET way. Anything .NET reads differently, or Python would reject, is refused with a message, so a config never
/// selects other layers here than in PEFT.
/// </summary>
/// <remarks>
/// Refused: .NET-only syntax (<c>(?&lt;name&gt;</c>, <c>(?'name'</c>, balancing groups, <c>\k</c>, <c>\p{…}</c>,
/// <c>\G</c>, character-class subtraction, the <c>n</c> and <c>x</c> options, atomic groups); lookbehinds that are
/// not plainly fixed-width (Python requires a fixed width, .NET does not); <c>{,n}</c> (a quantifier in Python, text
/// in .NET); conditionals; inline options anywhere but the start; unknown escapes; and any <c>)</c> without its
/// <c>(</c>, which in .NET would close the full-match wrapper early (<c>x)|(.*</c>).
/// </remarks>
internal static class PythonRegex
{
    private const string PlainEscapes = "AbBdDsSwWafnrtvxu";
    private const string ClassEscapes = "dDsSwWabfnrtvxu";

    /// <summary>The .NET spelling of <paramref name="pattern"/>.</summary>
    /// <param name="pattern">A pattern as Python's <c>re</c> reads it.</param>
    /// <param name="field">The config field, named in errors.</param>
    /// <param name="embedded">
    /// The pattern is placed inside a larger expression (as PEFT does with <c>layers_pattern</c>): a top-level
    /// <c>|</c> or a capturing group would change the larger expression's meaning or group numbers, so they are refused.
    /// </param>
    /// <exception cref="PathPatternException">The pattern would not mean the same; the message says why.</exception>
    public static string ToDotNet(string pattern, string field, bool embedded = false)
    {
        var output = new StringBuilder(pattern.Length + 8);
        var groups = new Stack<(bool Lookbehind, int Start)>();
        int i = 0;

        PathPatternException Refuse(string why) =>
            new($"{field} is not a valid regular expression here ('{pattern}'): {why} (at character {i + 1}). Patterns must mean the same as in Python's re, which PEFT uses.", field);

        while (i < pattern.Length)
        {
            char c = pattern[i];
            switch (c)
            {
                case '\\':
                    output.Append(Escape(pattern, ref i, inClass: false, Refuse));
                    continue;
                case '[':
                    i = CharacterClass(pattern, i, output, Refuse);
                    continue;
                case ')':
                    if (groups.Count == 0) throw Refuse("')' closes a group that was never opened (Python rejects it; .NET would close the full-match wrapper with it)");
                    var (lookbehind, start) = groups.Pop();
                    if (lookbehind) CheckFixedWidth(pattern, start, i, Refuse);
                    output.Append(')');
                    i++;
                    continue;
                case '|':
                    if (embedded && groups.Count == 0) throw Refuse("a top-level '|' would split the expression PEFT builds around this pattern; put the alternatives in a group, (?:a|b)");
                    break;
                case '{':
                    if (i + 1 < pattern.Length && pattern[i + 1] == ',' && QuantifierEnd(pattern, i + 2) is not null)
                        throw Refuse("'{,n}' is a quantifier in Python but text in .NET; write {0,n}");
                    break;
                case '(':
                    i = Group(pattern, i, output, groups, embedded, Refuse);
                    continue;
            }

            output.Append(c);
            i++;
        }

        if (groups.Count > 0) throw Refuse("a group is not closed");
        return output.ToString();
    }

    // "(" and what follows it; returns the index after the part consumed.
    private static int Group(string p, int i, StringBuilder output, Stack<(bool, int)> groups, bool embedded, Func<string, PathPatternException> refuse)
    {
        string rest = p[i..];
        if (!rest.StartsWith("(?", StringComparison.Ordinal))
        {
            if (embedded) throw refuse("a capturing group would renumber the groups of the expression PEFT builds around this pattern; use (?:...)");
            groups.Push((false, i));
            output.Append('(');
            return i + 1;
        }

        foreach (var plain in new[] { "(?:", "(?=", "(?!" })
        {
            if (rest.StartsWith(plain, StringComparison.Ordinal))
            {
                groups.Push((false, i));
                output.Append(plain);
                return i + 3;
            }
        }

        foreach (var behind in new[] { "(?<=", "(?<!" })
        {
            if (rest.StartsWith(behind, StringComparison.Ordinal))
            {
                groups.Push((true, i + 4));
                output.Append(behind);
                return i + 4;
            }
        }

        if (rest.StartsWith("(?P<", StringComparison.Ordinal))
        {
            int close = p.IndexOf('>', i + 4);
            var name = close < 0 ? "" : p[(i + 4)..close];
            if (!IsIdentifier(name)) throw refuse("(?P<name>...) needs a name made of letters, digits and '_'");
            if (embedded) throw refuse("a capturing group would renumber the groups of the expression PEFT builds around this pattern; use (?:...)");
            groups.Push((false, i));
            output.Append("(?<").Append(name).Append('>');
            return close + 1;
        }

        if (rest.StartsWith("(?P=", StringComparison.Ordinal))
        {
            int close = p.IndexOf(')', i + 4);
            var name = close < 0 ? "" : p[(i + 4)..close];
            if (!IsIdentifier(name)) throw refuse("(?P=name) needs the name of a group");
            output.Append(@"\k<").Append(name).Append('>');
            return close + 1;
        }

        if (rest.StartsWith("(?#", StringComparison.Ordinal))
        {
            int close = p.IndexOf(')', i + 3);
            if (close < 0) throw refuse("a comment (?#...) is not closed");
            return close + 1;    // comments end at the first ')' in both; dropped
        }

        if (rest.StartsWith("(?<", StringComparison.Ordinal) || rest.StartsWith("(?'", StringComparison.Ordinal))
            throw refuse("(?<name>...) and (?'name'...) are .NET's spelling (balancing groups too); Python writes a named group (?P<name>...)");
        if (rest.StartsWith("(?(", StringComparison.Ordinal))
            throw refuse("conditional groups (?(...)...) are read differently by .NET and Python");
        if (rest.StartsWith("(?>", StringComparison.Ordinal))
            throw refuse("atomic groups (?>...) exist only in Python 3.11 and later");

        // Inline options: (?ims) at the very start, or scoped (?ims-ims:...).
        int j = i + 2;
        while (j < p.Length && (char.IsAsciiLetter(p[j]) || p[j] == '-')) j++;
        var flags = p[(i + 2)..j];
        if (j < p.Length && flags.Length > 0 && (p[j] == ')' || p[j] == ':'))
        {
            if (flags.Any(f => f != '-' && "ims".IndexOf(f) < 0))
                throw refuse($"inline option '{flags}': only i, m and s mean the same in Python and .NET");
            if (p[j] == ')')
            {
                if (i != 0 || flags.Contains('-')) throw refuse("inline options (?ims) are accepted only at the very start of the pattern, as Python requires");
                output.Append(p, i, j - i + 1);
                return j + 1;
            }

            groups.Push((false, i));
            output.Append(p, i, j - i + 1);
            return j + 1;
        }

        throw refuse("unknown group construct '(?'");
    }

    // "[...]" copied with its escapes checked; returns the index after "]".
    private static int CharacterClass(string p, int i, StringBuilder output, Func<string, PathPatternException> refuse)
    {
        output.Append('[');
        int j = i + 1;
        if (j < p.Length && p[j] == '^') output.Append(p[j++]);
        if (j < p.Length && p[j] == ']') output.Append(p[j++]);    // a leading ']' is a literal in both
        while (j < p.Length && p[j] != ']')
        {
            if (p[j] == '\\')
            {
                output.Append(Escape(p, ref j, inClass: true, refuse));
                continue;
            }

            if (p[j] == '[') throw refuse("'[' inside a character set (nested sets, [:posix:] classes and .NET's subtraction -[...] are read differently)");
            output.Append(p[j++]);
        }

        if (j >= p.Length) throw refuse("a character set '[' is not closed");
        output.Append(']');
        return j + 1;
    }

    // "\x" at p[i]; advances i past it and returns its .NET spelling.
    private static string Escape(string p, ref int i, bool inClass, Func<string, PathPatternException> refuse)
    {
        if (i + 1 >= p.Length) throw refuse("the pattern ends with a lone backslash");
        char e = p[i + 1];
        i += 2;
        if (!char.IsAsciiLetterOrDigit(e)) return "\\" + e;
        if (char.IsAsciiDigit(e))
        {
            if (inClass && e != '0') throw refuse("a back-reference inside a character set");
            return "\\" + e;
        }

        if (!inClass && e == 'Z') return @"\z";    // Python's \Z is the very end; .NET's \Z allows a final newline
        if ((inClass ? ClassEscapes : PlainEscapes).IndexOf(e) < 0)
            throw refuse($"the escape \\{e} is not one Python and .NET both read the same way");
        return "\\" + e;
    }

    // Python requires a lookbehind of fixed width; only plainly fixed ones are accepted (no quantifier, '|' or group).
    private static void CheckFixedWidth(string p, int start, int end, Func<string, PathPatternException> refuse)
    {
        for (int k = start; k < end; k++)
        {
            char c = p[k];
            if (c == '\\') { k++; continue; }
            if (c == '[')
            {
                while (k < end && p[k] != ']') k += p[k] == '\\' ? 2 : 1;
                continue;
            }

            if (c is '*' or '+' or '?' or '{' or '|' or '(')
                throw refuse("a lookbehind must have a fixed width in Python; write it without quantifiers, '|' or groups");
        }
    }

    private static int? QuantifierEnd(string p, int i)
    {
        int j = i;
        while (j < p.Length && char.IsAsciiDigit(p[j])) j++;
        return j > i && j < p.Length && p[j] == '}' ? j : null;
    }

    private static bool IsIdentifier(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
