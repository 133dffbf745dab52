using System.Text.Json;
using System.Text.RegularExpressions;
using Lily.Tests.Support;

namespace Lily.Tests.Docs;

/// <summary>
/// The notebook and the file-based app are one walkthrough in two forms. CI runs the app; this
/// test keeps the notebook's code cells identical to the app's <c>// cell: NAME</c> sections.
/// </summary>
public class NotebookTests
{
    private static string Walkthrough(string file) => Path.Combine(RepositoryPaths.Root(), "samples", "Walkthrough", file);


    [Fact]
    public void Notebook_code_cells_equal_the_file_based_app()
    {
        var app = File.ReadAllText(Walkthrough("walkthrough.cs")).ReplaceLineEndings("\n");
        var parts = Regex.Split(app, @"^// cell: (\S+)\n", RegexOptions.Multiline);
        var appCells = Enumerable.Range(0, parts.Length / 2).ToDictionary(i => parts[1 + 2 * i], i => parts[2 + 2 * i].TrimEnd('\n'));
        appCells.Keys.Should().Equal("model", "inject", "train", "save-load");

        using var notebook = JsonDocument.Parse(File.ReadAllText(Walkthrough("walkthrough.ipynb")));
        notebook.RootElement.GetProperty("metadata").GetProperty("kernelspec").GetProperty("name").GetString().Should().Be(".net-csharp");
        var code = notebook.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => (Id: c.GetProperty("id").GetString()!, Source: string.Concat(c.GetProperty("source").EnumerateArray().Select(l => l.GetString())).TrimEnd('\n')))
            .ToList();

        code[0].Source.Should().StartWith("#r \"nuget: Lily.TorchSharp, ", "the first cell references the package");
        code.Skip(1).Select(c => c.Id).Should().Equal(appCells.Keys);
        foreach (var (id, source) in code.Skip(1)) source.Should().Be(appCells[id], $"notebook cell '{id}' must match walkthrough.cs");

        // The package versions named in both forms agree.
        var version = Regex.Match(app, @"#:package Lily\.TorchSharp@(\S+)").Groups[1].Value;
        code[0].Source.Should().Contain($"Lily.TorchSharp, {version}\"");
        var project = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "src", "Lily", "Lily.csproj"));
        project.Should().Contain($"<Version>{version}</Version>", "the walkthrough uses the package version the library builds");
    }
}
