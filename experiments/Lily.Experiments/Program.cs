using System.CommandLine;
using Lily.Distributed;
using Lily.Experiments.FashionMnist;
using Lily.FashionMnist;
using Spectre.Console;

// The Fashion-MNIST research runs (experiments/README.md): the comparison with several seeds and routings,
// the budget sweep (tuned or not), Lily deployed as LoRA, and data-parallel fine-tuning under mpiexec.

var cli = new ExperimentCommandLine();
cli.Root.SetAction(parsed =>
{
    var options = cli.Options(parsed);
    if (options.Device is not ("cpu" or "cuda"))
    {
        AnsiConsole.MarkupLine($"[red]--device must be cpu or cuda, not '{Markup.Escape(options.Device)}'.[/]");
        return 2;
    }
    if (!Directory.Exists(options.DataFolder))
    {
        AnsiConsole.MarkupLine($"[red]Fashion-MNIST not found at '{Markup.Escape(options.DataFolder)}'.[/] {Markup.Escape(FashionMnistDataset.InstallHint)}");
        return 2;
    }

    string command = "dotnet run -c Release --project experiments/Lily.Experiments -- " + string.Join(' ', args);
    if (parsed.GetValue(cli.DataParallel)) return DataParallelRun.Launch(options, command);
    if (parsed.GetValue(cli.SweepFlag))
    {
        var sweep = cli.Sweep(parsed);
        var unknown = sweep.Variants.Where(v => !SweepPlan.Variants.ContainsKey(v)).ToList();
        if (unknown.Count > 0 || !sweep.LoraRanks.Contains(sweep.AnalysisRank))
        {
            AnsiConsole.MarkupLine(unknown.Count > 0
                ? $"[red]Unknown --sweep-variant {Markup.Escape(string.Join(", ", unknown))}; known: {string.Join(", ", SweepPlan.Variants.Keys)}.[/]"
                : "[red]--analysis-rank must be one of --sweep-ranks.[/]");
            return 2;
        }
        if (sweep.TuneLearningRates.Any(lr => !(lr > 0 && double.IsFinite(lr))) || sweep.TuneScaling.Count == 0
            || sweep.TuneScaling.Any(s => !double.IsFinite(s)) || !(sweep.ValidationFraction is > 0 and < 1)
            || sweep.TuneCLoraBases.Any(p => p < 1) || sweep.TuneSadeWeights.Any(w => !(w > 0 && double.IsFinite(w)))
            || (sweep.TuneLearningRates.Count == 0 && (sweep.TuneCLoraBases.Count > 0 || sweep.TuneSadeWeights.Count > 0)))
        {
            AnsiConsole.MarkupLine("[red]--tune-lr needs positive finite rates, --tune-scaling finite values, --validation-fraction a value in (0, 1), --tune-clora-p values ≥ 1, --tune-sade-weight positive finite values; --tune-clora-p and --tune-sade-weight need --tune-lr.[/]");
            return 2;
        }
        var unknownMethods = sweep.Methods.Except(ExperimentCommandLine.SweepMethodNames).ToList();
        if (unknownMethods.Count > 0 || !sweep.Methods.Contains("lora"))
        {
            AnsiConsole.MarkupLine(unknownMethods.Count > 0
                ? $"[red]Unknown --sweep-methods {Markup.Escape(string.Join(", ", unknownMethods))}; known: {string.Join(", ", ExperimentCommandLine.SweepMethodNames)}.[/]"
                : "[red]--sweep-methods must include lora: every row is compared with it.[/]");
            return 2;
        }
        if (sweep.TuneLearningRates.Count > 0) new TunedSweep(options, sweep, AnsiConsole.Console).Run(command);
        else new Sweep(options, sweep, AnsiConsole.Console).Run(command);
        return 0;
    }

    var comparison = new Comparison(options, parsed.GetValue(cli.Routing), parsed.GetValue(cli.Deploy), AnsiConsole.Console);
    var results = comparison.Run();
    Report.Write(results, options.OutputFolder, command, AnsiConsole.Console);
    if (comparison.Deployments.Count > 0) Deployment.Write(comparison.Deployments, options.OutputFolder, command, AnsiConsole.Console);
    return 0;
});
Lily.ConsoleOutput.PlainConsole.WhenRedirected(AnsiConsole.Console, Console.IsOutputRedirected);
return cli.Root.Parse(args).Invoke();
