using System.Text.Json;
using System.Text.RegularExpressions;
using Lily.Tests.Support;

namespace Lily.Tests.Docs;

/// <summary>
/// The notebook and the file-based app are one walkthrough in two forms. CI runs both; this test keeps
/// the notebook's code cells identical to the app's <c>// cell: NAME</c> sections, and the notebooks'
/// own cells (package references, display helpers) consistent with the app and with each other.
/// </summary>
public class NotebookTests
{
    private static readonly string[] NotebookOnly = ["feed", "references", "display"];

    private static string Walkthrough(string file) => Path.Combine(RepositoryPaths.Root(), "samples", "Walkthrough", file);

    private static List<(string Id, string Source)> CodeCells(string notebookFile)
    {
        using var notebook = JsonDocument.Parse(File.ReadAllText(Walkthrough(notebookFile)));
        notebook.RootElement.GetProperty("metadata").GetProperty("kernelspec").GetProperty("name").GetString().Should().Be(".net-csharp");
        var cells = notebook.RootElement.GetProperty("cells").EnumerateArray().ToList();
        var ids = cells.Select(c => c.TryGetProperty("id", out var id) ? id.GetString() : null).ToList();
        ids.Should().NotContain(id => string.IsNullOrEmpty(id), "every source cell keeps its id").And.OnlyHaveUniqueItems();
        cells.Should().OnlyContain(c => c.GetProperty("cell_type").GetString() != "code" || c.GetProperty("outputs").GetArrayLength() == 0,
            "source notebooks are stored without outputs; CI keeps the executed copies");
        return cells.Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => (c.GetProperty("id").GetString()!, string.Concat(c.GetProperty("source").EnumerateArray().Select(l => l.GetString())).TrimEnd('\n')))
            .ToList();
    }

    [Fact]
    public void Notebook_code_cells_equal_the_file_based_app()
    {
        var app = File.ReadAllText(Walkthrough("walkthrough.cs")).ReplaceLineEndings("\n");
        var cellsPart = app.Split("\n// app only:")[0];
        var parts = Regex.Split(cellsPart, @"^// cell: (\S+)\n", RegexOptions.Multiline);
        var appCells = Enumerable.Range(0, parts.Length / 2).ToDictionary(i => parts[1 + 2 * i], i => parts[2 + 2 * i].TrimEnd('\n'));
        appCells.Keys.Should().Equal("model", "inject", "train", "inspect", "save-load");
        app.Should().Contain("\n// app only:", "the app defines ShowTable and ShowPlot after its cells");

        var code = CodeCells("walkthrough.ipynb");
        code.Take(NotebookOnly.Length).Select(c => c.Id).Should().Equal(NotebookOnly);
        code.Skip(NotebookOnly.Length).Select(c => c.Id).Should().Equal(appCells.Keys);
        foreach (var (id, source) in code.Skip(NotebookOnly.Length)) source.Should().Be(appCells[id], $"notebook cell '{id}' must match walkthrough.cs");

        // The same packages at the same versions: #:package NAME@VERSION in the app, #r "nuget: NAME, VERSION" in the notebook.
        var references = code.Single(c => c.Id == "references").Source;
        var appPackages = Regex.Matches(app, @"^#:package (\S+)@(\S+)$", RegexOptions.Multiline).Select(m => $"{m.Groups[1]}, {m.Groups[2]}");
        var notebookPackages = Regex.Matches(references, "^#r \"nuget: ([^\"]+)\"$", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        notebookPackages.Should().Equal(appPackages);
    }

    [Fact]
    public void Notebooks_take_the_newest_local_build_from_a_feed_they_can_build_themselves()
    {
        // Every local build has a version of its own (build/pack.sh), so both forms ask for the newest one, never a
        // fixed version that the NuGet cache could serve from an older build.
        File.ReadAllText(Walkthrough("walkthrough.cs")).Should().Contain("#:package Lily.TorchSharp@*-*");
        foreach (var file in new[] { "walkthrough.ipynb", "research.ipynb" })
        {
            var code = CodeCells(file);
            code[0].Id.Should().Be("feed", $"{file} builds the feed before anything restores from it");
            // dotnet-repl and the .NET Interactive kernel do not read NuGet.config: the notebook names the feed itself.
            code[0].Source.Should().Contain("../../build/pack.sh").And.Contain("\"RestoreAdditionalProjectSources\", feed");
            code.Single(c => c.Id == "references").Source.Should().StartWith("#r \"nuget: Lily.TorchSharp, *-*\"");
        }
    }

    [Fact]
    public void Both_notebooks_share_their_references_and_display_helpers()
    {
        var walkthrough = CodeCells("walkthrough.ipynb");
        var research = CodeCells("research.ipynb");
        foreach (var id in NotebookOnly)
            research.Single(c => c.Id == id).Source.Should().Be(walkthrough.Single(c => c.Id == id).Source, $"cell '{id}' is written once, in two notebooks");
    }

    [Fact]
    public void Notebooks_name_no_path_of_a_build_machine()
    {
        foreach (var file in new[] { "walkthrough.ipynb", "research.ipynb" })
            File.ReadAllText(Walkthrough(file)).Should().NotMatchRegex(@"(/work/|/home/|/root/|/tmp/|[A-Za-z]:\\\\)", $"{file} must run on any machine");
    }
}
