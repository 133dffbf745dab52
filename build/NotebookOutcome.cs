// Names the cells that failed in a notebook executed headless by dotnet-repl, whose output copy
// drops cell ids: cells are matched to the source notebook by position. Exit code 1 on any failure.
// Usage: dotnet run build/NotebookOutcome.cs -- <source.ipynb> <executed.ipynb>
using System.Text.Json;

var source = CodeCells(args[0]);
var executed = CodeCells(args[1]);
if (source.Count != executed.Count)
{
    Console.Error.WriteLine($"{args[1]}: {executed.Count} code cells, the source has {source.Count}");
    return 1;
}
int failed = 0;
for (int i = 0; i < source.Count; i++)
{
    var errors = executed[i].GetProperty("outputs").EnumerateArray()
        .Where(o => o.GetProperty("output_type").GetString() == "error")
        .Select(o => o.GetProperty("evalue").GetString()!.Split('\n')[0])
        .ToList();
    if (errors.Count == 0) continue;
    failed++;
    Console.Error.WriteLine($"{Path.GetFileName(args[0])}: cell '{source[i].GetProperty("id").GetString()}' (code cell {i + 1}) failed: {string.Join(" | ", errors)}");
}
Console.WriteLine($"{Path.GetFileName(args[0])}: {source.Count - failed} of {source.Count} code cells ran without error");
return failed == 0 ? 0 : 1;

static List<JsonElement> CodeCells(string path) =>
    JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cells").EnumerateArray()
        .Where(c => c.GetProperty("cell_type").GetString() == "code")
        .ToList();
