using System.Diagnostics;
using Lily.Matching;
using Lily.Tuners;

namespace Lily.Tests.Matching;

/// <summary>User regular expressions: full-match anchoring, errors naming the field, and no hang on catastrophic backtracking.</summary>
public class PathPatternTests
{
    [Fact]
    public void Catastrophic_backtracking_fails_fast_naming_the_field()
    {
        var regex = PathPattern.CompileFullMatch("(a+)+$", nameof(PeftConfig.TargetModulesRegex));
        string path = new string('a', 40) + "b";
        var watch = Stopwatch.StartNew();

        var match = () => PathPattern.IsFullMatch(regex, path, nameof(PeftConfig.TargetModulesRegex));

        var error = match.Should().Throw<ArgumentException>().Which;
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        error.ParamName.Should().Be("TargetModulesRegex");
        error.Message.Should().Contain($"the regular expression in TargetModulesRegex took too long on '{path}' (catastrophic backtracking?)");
    }

    [Theory]
    [InlineData("q_proj|v_proj", "layers.0.q_proj", false)]
    [InlineData("q_proj|v_proj", "q_proj", true)]
    [InlineData(@".*\.(q|v)_proj", "layers.0.v_proj", true)]
    [InlineData(@".*\.(q|v)_proj", "layers.0.v_proj.inner", false)]
    public void Patterns_must_match_the_whole_path(string pattern, string path, bool expected) =>
        PathPattern.IsFullMatch(PathPattern.CompileFullMatch(pattern, "F"), path, "F").Should().Be(expected);

    [Fact]
    public void An_invalid_pattern_names_the_field()
    {
        var compile = () => PathPattern.CompileFullMatch("(", "ExcludeModulesRegex");

        compile.Should().Throw<ArgumentException>().WithMessage("ExcludeModulesRegex is not a valid regular expression*")
            .Which.ParamName.Should().Be("ExcludeModulesRegex");
    }
}
