using System.CommandLine;
using Lily.Samples.FashionMnist;
using Spectre.Console;

// Lily vs LoRA on Fashion-MNIST: pretrain a small ViT on classes 0–4, adapt it to classes 5–9.
var data = new Option<string>("--data") { Description = "Folder with the Fashion-MNIST idx files", DefaultValueFactory = _ => FashionMnistDataset.DefaultFolder };
var output = new Option<string>("--output") { Description = "Folder for results.csv, results.md, learning-curves.png and the adapters", DefaultValueFactory = _ => "out/fashion-mnist" };
var seeds = new Option<int[]>("--seeds") { Description = "Fine-tuning seeds, e.g. --seeds 1 2 3", DefaultValueFactory = _ => [1], AllowMultipleArgumentsPerToken = true };
var epochs = new Option<int>("--epochs") { Description = "Fine-tuning epochs per method", DefaultValueFactory = _ => 3 };
var pretrainEpochs = new Option<int>("--pretrain-epochs") { Description = "Pretraining epochs on classes 0–4", DefaultValueFactory = _ => 4 };
var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank; sets the budget Lily's rank is matched to", DefaultValueFactory = _ => 4 };
var strideA = new Option<int>("--lily-stride") { Description = "Lily: consecutive layers sharing one A", DefaultValueFactory = _ => 2 };
var experts = new Option<int>("--lily-experts") { Description = "Lily: B experts per target type", DefaultValueFactory = _ => 2 };
var routing = new Option<bool>("--compare-routing") { Description = "Also run Lily with per-sample and per-token routing" };
var deploy = new Option<bool>("--deploy") { Description = "LoRA and Lily only, plus Lily deployed as LoRA: frozen routing, exported LoRA, squeezed ranks" };
var device = new Option<string>("--device") { Description = "cpu or cuda (cuda needs a build with -p:TorchBackend=cuda)", DefaultValueFactory = _ => "cpu" };
var threads = new Option<int>("--threads") { Description = "Torch CPU threads (0: libtorch's default)", DefaultValueFactory = _ => 1 };
var quick = new Option<bool>("--quick") { Description = "Smoke test: 4,000 training images per split, two epochs each (under a minute)" };
var trainSamples = new Option<int?>("--train-samples") { Description = "Training images per split (default: all, about 30,000)" };
var testSamples = new Option<int?>("--test-samples") { Description = "Test images per split (default: all, 5,000)" };
var sweepFlag = new Option<bool>("--sweep") { Description = "Budget sweep instead: LoRA at each rank vs DoRA, Lily and CLoRA (with and without SADE) at the matched budget, Pareto, effective-rank and routing plots" };
var sweepVariants = new Option<string[]>("--sweep-variant") { Description = "Sweep variants: all-targets, attention-only, deep-all-targets (12 blocks) (default all; --quick runs the first)", DefaultValueFactory = _ => ["all-targets", "attention-only", "deep-all-targets"], AllowMultipleArgumentsPerToken = true };
var cloraBases = new Option<int>("--clora-bases") { Description = "Sweep: CLoRA's number of shared base pairs p", DefaultValueFactory = _ => 4 };
var sadeWeight = new Option<double>("--sade-weight") { Description = "Sweep: CLoRA's SADE weight for the clora-sade runs (0: none)", DefaultValueFactory = _ => 0.1 };
string[] sweepMethodNames = ["lora", "dora", "lily", "clora", "clora-sade"];
var sweepMethods = new Option<string[]>("--sweep-methods") { Description = "Sweep: methods to run at each budget, among lora, dora, lily, clora, clora-sade (lora always: every row is compared with it)", DefaultValueFactory = _ => sweepMethodNames, AllowMultipleArgumentsPerToken = true };
var sweepRanks = new Option<int[]>("--sweep-ranks") { Description = "Sweep: LoRA ranks, each sets one budget", DefaultValueFactory = _ => [1, 2, 4, 8, 16], AllowMultipleArgumentsPerToken = true };
var sweepStride = new Option<int>("--sweep-stride") { Description = "Sweep: Lily's stride_A", DefaultValueFactory = _ => 1 };
var dataParallel = new Option<bool>("--data-parallel") { Description = "Under mpiexec -n N: LoRA and Lily fine-tuned data-parallel, each rank on its part of every batch (docs/distributed.md)" };
var analysisRank = new Option<int>("--analysis-rank") { Description = "Sweep: the LoRA rank whose budget gets the effective-rank and routing plots", DefaultValueFactory = _ => 4 };
var tuneLr = new Option<double[]>("--tune-lr") { Description = "Sweep: tune each method's learning rate over this grid on a validation split of the training images (seed: the first of --seeds), then test the choice with every seed (default: off, 2e-3 for all)", AllowMultipleArgumentsPerToken = true };
var tuneScaling = new Option<double[]>("--tune-scaling") { Description = "Sweep with --tune-lr: Lily's and CLoRA's scaling grid, crossed with the learning rates (LoRA and DoRA keep alpha/r)", DefaultValueFactory = _ => [1.0], AllowMultipleArgumentsPerToken = true };
var tuneCLoraBases = new Option<int[]>("--tune-clora-p") { Description = "Sweep with --tune-lr: CLoRA's numbers of shared base pairs p to tune over, each matched to the budget (default: --clora-bases only)", AllowMultipleArgumentsPerToken = true };
var tuneSadeWeights = new Option<double[]>("--tune-sade-weight") { Description = "Sweep with --tune-lr: SADE weights (> 0) to tune CLoRA + SADE over (default: --sade-weight only)", AllowMultipleArgumentsPerToken = true };
var validationFraction = new Option<double>("--validation-fraction") { Description = "Sweep with --tune-lr: share of each class of the training images held out for validation", DefaultValueFactory = _ => 0.2 };

var root = new RootCommand("Lily vs LoRA on Fashion-MNIST") { data, output, seeds, epochs, pretrainEpochs, loraRank, strideA, experts, routing, deploy, device, threads, quick, trainSamples, testSamples, sweepFlag, sweepVariants, sweepMethods, sweepRanks, sweepStride, analysisRank, cloraBases, sadeWeight, tuneLr, tuneScaling, tuneCLoraBases, tuneSadeWeights, validationFraction, dataParallel };
root.SetAction(parsed =>
{
    var options = new SampleOptions
    {
        DataFolder = parsed.GetValue(data)!,
        OutputFolder = parsed.GetValue(output)!,
        Seeds = parsed.GetValue(seeds)!,
        FineTuneEpochs = parsed.GetValue(epochs),
        PretrainEpochs = parsed.GetValue(pretrainEpochs),
        LoraRank = parsed.GetValue(loraRank),
        LilyStrideA = parsed.GetValue(strideA),
        LilyExperts = parsed.GetValue(experts),
        CompareRouting = parsed.GetValue(routing),
        Deploy = parsed.GetValue(deploy),
        Device = parsed.GetValue(device)!,
        Threads = parsed.GetValue(threads),
        TrainSamples = parsed.GetValue(trainSamples),
        TestSamples = parsed.GetValue(testSamples),
    };
    if (parsed.GetValue(quick)) options = options.Quick();
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

    string command = "dotnet run -c Release --project samples/Lily.Samples.FashionMnist -- " + string.Join(' ', args);
    if (parsed.GetValue(dataParallel)) return DataParallelRun.Launch(options, command);
    if (parsed.GetValue(sweepFlag))
    {
        var sweep = new SweepOptions
        {
            Variants = parsed.GetValue(sweepVariants)!,
            Methods = parsed.GetValue(sweepMethods)!,
            LoraRanks = parsed.GetValue(sweepRanks)!,
            StrideA = parsed.GetValue(sweepStride),
            AnalysisRank = parsed.GetValue(analysisRank),
            CLoraBases = parsed.GetValue(cloraBases),
            SadeWeight = parsed.GetValue(sadeWeight),
            TuneLearningRates = parsed.GetValue(tuneLr) ?? [],
            TuneScaling = parsed.GetValue(tuneScaling)!,
            TuneCLoraBases = parsed.GetValue(tuneCLoraBases) ?? [],
            TuneSadeWeights = parsed.GetValue(tuneSadeWeights) ?? [],
            ValidationFraction = parsed.GetValue(validationFraction),
        };
        if (parsed.GetValue(quick)) sweep = sweep.Quick();
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
        var unknownMethods = sweep.Methods.Except(sweepMethodNames).ToList();
        if (unknownMethods.Count > 0 || !sweep.Methods.Contains("lora"))
        {
            AnsiConsole.MarkupLine(unknownMethods.Count > 0
                ? $"[red]Unknown --sweep-methods {Markup.Escape(string.Join(", ", unknownMethods))}; known: {string.Join(", ", sweepMethodNames)}.[/]"
                : "[red]--sweep-methods must include lora: every row is compared with it.[/]");
            return 2;
        }
        if (sweep.TuneLearningRates.Count > 0) new TunedSweep(options, sweep, AnsiConsole.Console).Run(command);
        else new Sweep(options, sweep, AnsiConsole.Console).Run(command);
        return 0;
    }

    var experiment = new Experiment(options, AnsiConsole.Console);
    var results = experiment.Run();
    Report.Write(results, options.OutputFolder, command, AnsiConsole.Console);
    if (experiment.Deployments.Count > 0) Deployment.Write(experiment.Deployments, options.OutputFolder, command, AnsiConsole.Console);
    return 0;
});
return root.Parse(args).Invoke();
