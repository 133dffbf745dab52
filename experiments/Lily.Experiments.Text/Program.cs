using System.CommandLine;
using System.Globalization;
using Lily.Experiments.Text;
using Spectre.Console;

// The 1k study (docs/bert.md): every method tuned on a validation split of 1,000 examples, then tested with
// three seeds, on two tasks, two target sets and two backbones. Hours; resumable from study-runs.csv.
var threads = new Option<int>("--threads") { Description = "Torch CPU threads (0: every core)", DefaultValueFactory = _ => 0 };
var output = new Option<string>("--output") { Description = "Folder for study-runs.csv, study.md and the plots", DefaultValueFactory = _ => "out/text" };
var quick = new Option<bool>("--quick") { Description = "The study in miniature (CI): one backbone, one task, few examples" };
var studyTasks = new Option<string[]?>("--study-tasks") { Description = "Only these tasks (spam, brown); processes given disjoint tasks may share one --output", AllowMultipleArgumentsPerToken = true };
var reportOnly = new Option<bool>("--report-only") { Description = "Rewrite study.md and the plots from study-runs.csv, training nothing" };

var root = new RootCommand("The 1k study: LoRA, DoRA, Lily and CLoRA tuned at LoRA's budget on real labelled text")
{
    threads, output, quick, studyTasks, reportOnly,
};
root.SetAction(parsed =>
{
    string command = "dotnet run -c Release --project experiments/Lily.Experiments.Text -- " + string.Join(' ', args);
    if (parsed.GetValue(threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
    try
    {
        var options = new StudyOptions();
        if (parsed.GetValue(quick)) options = StudyOptionsQuick.Of(options);
        if (parsed.GetValue(studyTasks) is { Length: > 0 } only) options = options with { OnlyTasks = only };
        var runner = new OneKStudy(options, parsed.GetValue(output)!, AnsiConsole.Console);
        if (parsed.GetValue(reportOnly)) runner.Report(command);
        else runner.Run(command);
        return 0;
    }
    catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or InvalidOperationException)
    {
        // Bad options or missing inputs: one clear line, not a stack trace.
        AnsiConsole.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
        return 2;
    }
});
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
// Logs and CI: no colour codes, and lines as long as they are rather than wrapped at 80 columns.
Lily.ConsoleOutput.PlainConsole.WhenRedirected(AnsiConsole.Console, Console.IsOutputRedirected);
return root.Parse(args).Invoke();
