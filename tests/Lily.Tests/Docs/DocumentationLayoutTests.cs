using System.Text.RegularExpressions;
using Lily.Tests.Support;

namespace Lily.Tests.Docs;

/// <summary>
/// The README is a guide and docs/README.md the index of everything else (issue 26): the README stays short, every
/// guide is reachable from the index, result files keep to their own folder, and no relative link points nowhere.
/// </summary>
public class DocumentationLayoutTests
{
    private static readonly string Root = RepositoryPaths.Root();
    private static readonly string Docs = Path.Combine(Root, "docs");

    private static IEnumerable<string> Documents() =>
        Directory.EnumerateFiles(Docs, "*.md", SearchOption.AllDirectories).Prepend(Path.Combine(Root, "README.md"));

    [Fact]
    public void The_readme_is_at_most_350_lines()
    {
        File.ReadAllLines(Path.Combine(Root, "README.md")).Length.Should().BeLessThanOrEqualTo(350);
    }

    [Fact]
    public void The_index_links_every_guide()
    {
        var index = File.ReadAllText(Path.Combine(Docs, "README.md"));
        var guides = Directory.EnumerateFiles(Docs, "*.md", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Docs, f).Replace('\\', '/'))
            .Where(f => f != "README.md");
        foreach (var guide in guides) index.Should().Contain($"]({guide})", $"docs/README.md is the index and must link docs/{guide}");
    }

    [Fact]
    public void Result_files_live_in_their_own_folder()
    {
        Directory.EnumerateFiles(Docs).Where(f => f.EndsWith(".csv", StringComparison.Ordinal) || f.EndsWith(".png", StringComparison.Ordinal))
            .Should().BeEmpty("measured CSV and PNG files belong in docs/results/ (or a study's own folder), not beside the guides");
    }

    [Fact]
    public void Every_relative_link_points_to_a_file_that_exists()
    {
        var broken = new List<string>();
        foreach (var document in Documents())
        {
            var text = File.ReadAllText(document);
            // Links outside code spans: [text](target) and ![alt](target), targets without a scheme.
            foreach (Match link in Regex.Matches(Regex.Replace(text, "`[^`\n]*`", ""), @"\]\(([^)\s#]+)(#[^)\s]*)?\)"))
            {
                var target = link.Groups[1].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(document)!, target));
                if (!File.Exists(path) && !Directory.Exists(path)) broken.Add($"{Path.GetRelativePath(Root, document)}: {target}");
            }
        }
        broken.Should().BeEmpty();
    }
}
