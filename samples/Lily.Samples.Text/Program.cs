using System.CommandLine;
using System.Globalization;
using Lily.Samples.Text;
using Spectre.Console;

// A pretrained BERT (MiniLM) fine-tuned on real labelled text: head only, LoRA, Lily, full.
// (The tuned 1k study of every method is research: experiments/Lily.Experiments.Text.)
var defaults = new MainJobOptions();
var backbone = new Option<string>("--backbone") { Description = "Pretrained encoder: minilm (all-MiniLM-L6-v2) or arctic (snowflake-arctic-embed-xs)", DefaultValueFactory = _ => defaults.Backbone };
var task = new Option<string>("--task") { Description = "Task: spam (SpamAssassin, ham/spam) or brown (Brown corpus genre, 15 classes)", DefaultValueFactory = _ => defaults.Task };
var methods = new Option<string[]>("--methods") { Description = "Methods, among head, lora, dora, lily, clora, full", DefaultValueFactory = _ => [.. defaults.Methods], AllowMultipleArgumentsPerToken = true };
var targets = new Option<string>("--targets") { Description = "PEFT targets: qv (query, value) or all (every Linear of every layer)", DefaultValueFactory = _ => defaults.Targets };
var loraRank = new Option<int>("--lora-rank") { Description = "LoRA's rank; sets the budget DoRA, Lily and CLoRA are matched to", DefaultValueFactory = _ => defaults.LoraRank };
var trainExamples = new Option<int>("--train-examples") { Description = "Training examples", DefaultValueFactory = _ => defaults.TrainExamples };
var testExamples = new Option<int>("--test-examples") { Description = "Test examples", DefaultValueFactory = _ => defaults.TestExamples };
var epochs = new Option<int>("--epochs") { Description = "Passes over the training examples", DefaultValueFactory = _ => defaults.Epochs };
var maxLength = new Option<int>("--max-length") { Description = "Word pieces per example", DefaultValueFactory = _ => defaults.MaxLength };
var seeds = new Option<int[]>("--seeds") { Description = "Seeds, e.g. --seeds 1 2 3", DefaultValueFactory = _ => [.. defaults.Seeds], AllowMultipleArgumentsPerToken = true };
var lr = new Option<double?>("--lr") { Description = "One learning rate for every method (default: per method, see MainJobOptions)" };
var scaling = new Option<double>("--scaling") { Description = "Lily's and CLoRA's scaling", DefaultValueFactory = _ => defaults.Scaling };
var threads = new Option<int>("--threads") { Description = "Torch CPU threads (0: every core)", DefaultValueFactory = _ => 0 };
var output = new Option<string>("--output") { Description = "Folder for the results", DefaultValueFactory = _ => defaults.OutputFolder };
var data = new Option<string?>("--data") { Description = "Cache folder for the npm datasets (default: ~/.cache/lily-datasets or $LILY_DATA_CACHE)" };
var quick = new Option<bool>("--quick") { Description = "Smoke run: 96 training / 96 test examples, 64 word pieces, one epoch (CI)" };

var root = new RootCommand("Fine-tune a pretrained BERT (MiniLM) on real labelled text with LoRA, Lily and more")
{
    backbone, task, methods, targets, loraRank, trainExamples, testExamples, epochs, maxLength, seeds, lr, scaling, threads, output, data, quick,
};
root.SetAction(parsed =>
{
    string command = "dotnet run -c Release --project samples/Lily.Samples.Text -- " + string.Join(' ', args);
    if (parsed.GetValue(threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
    try
    {
        // --quick sets the defaults; an option given explicitly wins over it.
        bool Given(Option option) => parsed.GetResult(option) is { Implicit: false };
        var options = parsed.GetValue(quick) ? defaults.Quick() : defaults;
        options = options with
        {
            Backbone = parsed.GetValue(backbone)!,
            Task = parsed.GetValue(task)!,
            Methods = parsed.GetValue(methods)!,
            Targets = parsed.GetValue(targets)!,
            LoraRank = parsed.GetValue(loraRank),
            Seeds = parsed.GetValue(seeds)!,
            Scaling = parsed.GetValue(scaling),
            Threads = parsed.GetValue(threads),
            OutputFolder = parsed.GetValue(output)!,
            DataFolder = parsed.GetValue(data),
        };
        if (Given(trainExamples)) options = options with { TrainExamples = parsed.GetValue(trainExamples) };
        if (Given(testExamples)) options = options with { TestExamples = parsed.GetValue(testExamples) };
        if (Given(epochs)) options = options with { Epochs = parsed.GetValue(epochs) };
        if (Given(maxLength)) options = options with { MaxLength = parsed.GetValue(maxLength) };
        if (parsed.GetValue(lr) is { } one)
            options = options with { LearningRates = defaults.LearningRates.ToDictionary(kv => kv.Key, _ => one, StringComparer.Ordinal) };
        new MainJob(options, AnsiConsole.Console).Run(command);
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
