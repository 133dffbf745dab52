// Names the cells that failed in a notebook executed headless by dotnet-repl, whose output copy
// drops cell ids: cells are matched to the source notebook by position. A cell also fails when it
// calls ShowPlot or ShowTable (the notebooks' display helpers) more often than it shows an inline PNG
// image or an HTML table: plots must render as images. Writes a .trx test report
// (one result per code cell, named by its id) beside the executed copy. Exit code 1 on any failure.
// The executed copy is saved again without the kernel's package-installation chatter: the progress frames
// ("Installing Packages" with growing dots) and the "Loading extension…" lines, which name the machine's cache;
// the final "Installed Packages" list, with the versions, stays.
// Usage: dotnet run build/NotebookOutcome.cs -- <source.ipynb> <executed.ipynb> <report.trx>
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;

StripInstallChatter(args[1]);
var source = CodeCells(args[0]);
var executed = CodeCells(args[1]);
var notebook = Path.GetFileName(args[0]);
if (source.Count != executed.Count)
{
    Console.Error.WriteLine($"{args[1]}: {executed.Count} code cells, the source has {source.Count}");
    return 1;
}
var results = new List<(string Name, string? Error)>();
for (int i = 0; i < source.Count; i++)
{
    var errors = executed[i].GetProperty("outputs").EnumerateArray()
        .Where(o => o.GetProperty("output_type").GetString() == "error")
        .Select(o => o.GetProperty("evalue").GetString()!.Split('\n')[0])
        .ToList();
    var code = string.Concat(source[i].GetProperty("source").EnumerateArray().Select(l => l.GetString()));
    var shown = executed[i].GetProperty("outputs").EnumerateArray()
        .Where(o => o.TryGetProperty("data", out _)).Select(o => o.GetProperty("data")).ToList();
    int images = shown.Count(d => d.TryGetProperty("image/png", out _));
    int tables = shown.Count(d => d.TryGetProperty("text/html", out var html) && Text(html).StartsWith("<table", StringComparison.Ordinal));
    int plotsCalled = Calls(code, "ShowPlot("), tablesCalled = Calls(code, "ShowTable(");
    if (errors.Count == 0 && images < plotsCalled) errors.Add($"{plotsCalled} plots called for, {images} shown as images");
    if (errors.Count == 0 && tables < tablesCalled) errors.Add($"{tablesCalled} tables called for, {tables} shown as tables");
    var name = $"{notebook}: cell '{source[i].GetProperty("id").GetString()}' (code cell {i + 1})";
    results.Add((name, errors.Count == 0 ? null : string.Join(" | ", errors)));
    if (errors.Count > 0) Console.Error.WriteLine($"{name} failed: {results[^1].Error}");
}
int failed = results.Count(r => r.Error is not null);
WriteTrx(args[2], results);
Console.WriteLine($"{notebook}: {source.Count - failed} of {source.Count} code cells ran without error and showed their plots and tables inline");
return failed == 0 ? 0 : 1;

static void StripInstallChatter(string path)
{
    var notebook = JsonNode.Parse(File.ReadAllText(path))!;
    int removed = 0;
    foreach (var cell in notebook["cells"]!.AsArray())
    {
        if (cell!["outputs"] is not JsonArray outputs) continue;
        foreach (var output in outputs.ToList())
        {
            var data = output!["data"];
            string html = data?["text/html"] is { } h ? Text(JsonDocument.Parse(h.ToJsonString()).RootElement) : "";
            string plain = data?["text/plain"] is { } p ? Text(JsonDocument.Parse(p.ToJsonString()).RootElement) : "";
            if (html.Contains("<strong>Installing Packages</strong>", StringComparison.Ordinal)
                || plain.StartsWith("Loading extension", StringComparison.Ordinal))
            {
                outputs.Remove(output);
                removed++;
            }
        }
    }
    if (removed > 0) File.WriteAllText(path, notebook.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}

// ipynb stores text either as one string or as a list of lines.
static string Text(JsonElement value) =>
    value.ValueKind == JsonValueKind.Array ? string.Concat(value.EnumerateArray().Select(l => l.GetString())) : value.GetString() ?? "";

// Calls only: the helpers' own definitions ("void ShowPlot(") do not count.
static int Calls(string code, string name) =>
    System.Text.RegularExpressions.Regex.Matches(code, $@"(?<!void\s){System.Text.RegularExpressions.Regex.Escape(name)}").Count;

static List<JsonElement> CodeCells(string path) =>
    JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cells").EnumerateArray()
        .Where(c => c.GetProperty("cell_type").GetString() == "code")
        .ToList();

// The Visual Studio test-results format that CI systems read; the ids only need to agree with each other.
static void WriteTrx(string path, List<(string Name, string? Error)> results)
{
    XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
    const string testType = "13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b", list = "8c84fa94-04c1-424b-9868-57a2d4851a1d";
    var rows = results.Select(r => (r.Name, r.Error, Test: Guid.NewGuid().ToString(), Execution: Guid.NewGuid().ToString())).ToList();
    int failed = rows.Count(r => r.Error is not null);
    new XDocument(new XElement(ns + "TestRun",
        new XAttribute("id", Guid.NewGuid()), new XAttribute("name", Path.GetFileNameWithoutExtension(path)),
        new XElement(ns + "Results", rows.Select(r => new XElement(ns + "UnitTestResult",
            new XAttribute("executionId", r.Execution), new XAttribute("testId", r.Test), new XAttribute("testName", r.Name),
            new XAttribute("computerName", Environment.MachineName), new XAttribute("outcome", r.Error is null ? "Passed" : "Failed"),
            new XAttribute("testType", testType), new XAttribute("testListId", list),
            r.Error is null ? null : new XElement(ns + "Output", new XElement(ns + "ErrorInfo", new XElement(ns + "Message", r.Error)))))),
        new XElement(ns + "TestDefinitions", rows.Select(r => new XElement(ns + "UnitTest",
            new XAttribute("name", r.Name), new XAttribute("id", r.Test),
            new XElement(ns + "Execution", new XAttribute("id", r.Execution)),
            new XElement(ns + "TestMethod", new XAttribute("codeBase", "notebook"), new XAttribute("className", "notebook"),
                new XAttribute("name", r.Name), new XAttribute("adapterTypeName", "executor://dotnet-repl"))))),
        new XElement(ns + "TestEntries", rows.Select(r => new XElement(ns + "TestEntry",
            new XAttribute("testId", r.Test), new XAttribute("executionId", r.Execution), new XAttribute("testListId", list)))),
        new XElement(ns + "TestLists", new XElement(ns + "TestList", new XAttribute("name", "Results Not in a List"), new XAttribute("id", list))),
        new XElement(ns + "ResultSummary", new XAttribute("outcome", failed == 0 ? "Completed" : "Failed"),
            new XElement(ns + "Counters", new XAttribute("total", rows.Count), new XAttribute("executed", rows.Count),
                new XAttribute("passed", rows.Count - failed), new XAttribute("failed", failed))))).Save(path);
}
