using System.Diagnostics;
using Lily.Matching;
using Lily.Tuners;

namespace Lily.Tests.Matching;

/// <summary>
/// Patterns mean what Python's re means (PEFT matches with it): .NET-only syntax and patterns that would escape the
/// full-match wrapper are refused; Python's own spellings work. The expectations follow Python 3's re documentation.
/// </summary>
public class PythonRegexTests
{
    [Theory]
    [InlineData(@"x)|(.*", "never opened")]               // .NET alone would read ^(?:x)|(.*)\z: any path
    [InlineData(@"(?<name>q)_proj", "(?P<name>")]         // .NET's named group; Python writes (?P<name>...)
    [InlineData(@"(?'name'q)_proj", "(?P<name>")]
    [InlineData(@"(?<a-b>q)", "(?P<name>")]              // balancing group
    [InlineData(@".*(?<=q+)_proj", "fixed width")]        // variable-width lookbehind: Python rejects it
    [InlineData(@".*(?<!ab|c)_proj", "fixed width")]
    [InlineData(@"q{,2}_proj", "{0,n}")]                  // a quantifier in Python, text in .NET
    [InlineData(@"\p{L}+", @"\p")]
    [InlineData(@"\k<x>", @"\k")]
    [InlineData(@"\G.*", @"\G")]
    [InlineData(@"(?n)(q)_proj", "inline option")]
    [InlineData(@"(?x)q _proj", "inline option")]
    [InlineData(@"a(?i)b", "very start")]
    [InlineData(@"[a-z-[aeiou]]+", "inside a character set")]
    [InlineData(@"(?>q)_proj", "atomic")]
    [InlineData(@"(?(1)a|b)", "conditional")]
    [InlineData(@"q_proj\", "lone backslash")]
    [InlineData(@"(q_proj", "not closed")]
    public void Patterns_python_reads_differently_are_refused(string pattern, string why)
    {
        var compile = () => PathPattern.CompileFullMatch(pattern, "TargetModulesRegex");

        compile.Should().Throw<ArgumentException>().WithMessage($"TargetModulesRegex is not a valid regular expression here*{why}*")
            .Which.ParamName.Should().Be("TargetModulesRegex");
    }

    [Theory]
    [InlineData(@"(?P<kind>q|v)_proj", "v_proj", true)]
    [InlineData(@"(?P<x>q)_(?P=x)", "q_q", true)]
    [InlineData(@"(?P<x>q)_(?P=x)", "q_v", false)]
    [InlineData(@"q_proj\Z", "q_proj\n", false)]                     // \Z is the very end in Python
    [InlineData(@"(?i)Q_PROJ", "q_proj", true)]
    [InlineData(@".*(?<=\.q)_proj", "layers.0.q_proj", true)]
    [InlineData(@".*(?<!\.q)_proj", "layers.0.q_proj", false)]
    [InlineData(@"(?i:Q)_proj", "q_proj", true)]
    [InlineData(@"q_p(?#comment)roj", "q_proj", true)]
    [InlineData(@"[\w.]+\.(q|v)_proj", "model.layers.1.q_proj", true)]
    [InlineData(@"x|.*", "anything", true)]
    public void Python_spellings_match_as_in_python(string pattern, string path, bool expected) =>
        PathPattern.IsFullMatch(PathPattern.CompileFullMatch(pattern, "F"), path, "F").Should().Be(expected);

    [Fact]
    public void One_time_budget_covers_every_match_of_a_config()
    {
        var budget = new MatchBudget();
        var clock = Stopwatch.StartNew();
        int matches = 0;

        // Each match stays under the per-match timeout, as a pattern tuned to be just slow enough would.
        var run = () =>
        {
            for (int i = 0; i < 100; i++)
            {
                budget.Run(() => { Thread.Sleep(50); return false; }, "TargetModulesRegex", $"layers.{i}");
                matches++;
            }
        };

        run.Should().Throw<ArgumentException>().WithMessage("*took more than 1 s in all*TargetModulesRegex*");
        matches.Should().BeLessThan(25, "the budget is spent after about 20 matches of 50 ms, not after all 100");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3));
    }
}
