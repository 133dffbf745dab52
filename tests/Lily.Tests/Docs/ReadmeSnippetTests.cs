using System.Text.RegularExpressions;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Docs;

/// <summary>
/// The C# examples of the README and of the guides in docs/ are copies of compiled code. A code block preceded by
/// <c>&lt;!-- snippet: NAME FILE --&gt;</c> must equal the lines between
/// <c>// begin-snippet: NAME</c> and <c>// end-snippet</c> in FILE, so the documents cannot go stale.
/// </summary>
public class ReadmeSnippetTests
{

    // A snippet inside a method is shown without the method's indentation.
    private static string Dedent(string code)
    {
        var lines = code.Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart(' ').Length).DefaultIfEmpty(0).Min();
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart(' ')));
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("docs/adding-a-method.md")]
    [InlineData("docs/distributed.md")]
    [InlineData("docs/research.md")]
    [InlineData("docs/clora.md")]
    public void Code_blocks_equal_the_compiled_samples(string document)
    {
        var root = RepositoryPaths.Root();
        var readme = File.ReadAllText(Path.Combine(root, document)).ReplaceLineEndings("\n");
        var blocks = Regex.Matches(readme, @"<!-- snippet: (\S+) (\S+) -->\n```csharp\n(.*?)```", RegexOptions.Singleline);
        blocks.Should().NotBeEmpty($"{document} shows compiled examples");

        foreach (Match block in blocks)
        {
            var (name, file, code) = (block.Groups[1].Value, block.Groups[2].Value, block.Groups[3].Value);
            var source = File.ReadAllText(Path.Combine(root, file)).ReplaceLineEndings("\n");
            var region = Regex.Match(source, $@"// begin-snippet: {Regex.Escape(name)}\n(.*?)// end-snippet", RegexOptions.Singleline);
            region.Success.Should().BeTrue($"{file} marks snippet '{name}'");
            Dedent(code).Should().Be(Dedent(region.Groups[1].Value), $"{document} snippet '{name}' must match {file}");
        }
    }
}
