using System.CommandLine;

using Lily.FashionMnist;
using Lily.Distributed;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// The sample's command line. <c>--quick</c> replaces the defaults with its smoke-test preset; an option given
/// explicitly wins over both (so <c>--quick --train-samples 500</c> trains on 500 images).
/// </summary>
internal sealed class ExperimentCommandLine
{
    public Option<string> Data { get; } = new Option<string>("--data") { Description = "Folder with the Fashion-MNIST idx files", DefaultValueFactory = _ => FashionMnistDataset.DefaultFolder };
    public Option<string> Output { get; } = new Option<string>("--output") { Description = "Folder for results.csv, results.md, learning-curves.png and the adapters", DefaultValueFactory = _ => "out/fashion-mnist" };
    public Option<int[]> Seeds { get; } = new Option<int[]>("--seeds") { Description = "Fine-tuning seeds, e.g. --seeds 1 2 3", DefaultValueFactory = _ => [1], AllowMultipleArgumentsPerToken = true };
    public Option<int> Epochs { get; } = new Option<int>("--epochs") { Description = "Fine-tuning epochs per method", DefaultValueFactory = _ => 3 };
    public Option<int> PretrainEpochs { get; } = new Option<int>("--pretrain-epochs") { Description = "Pretraining epochs on classes 0–4", DefaultValueFactory = _ => 4 };
    public Option<int> LoraRank { get; } = new Option<int>("--lora-rank") { Description = "LoRA rank; sets the budget Lily's rank is matched to", DefaultValueFactory = _ => 4 };
    public Option<int> StrideA { get; } = new Option<int>("--lily-stride") { Description = "Lily: consecutive layers sharing one A", DefaultValueFactory = _ => 2 };
    public Option<int> Experts { get; } = new Option<int>("--lily-experts") { Description = "Lily: B experts per target type", DefaultValueFactory = _ => 2 };
    public Option<bool> Routing { get; } = new Option<bool>("--compare-routing") { Description = "Also run Lily with per-sample and per-token routing" };
    public Option<bool> Deploy { get; } = new Option<bool>("--deploy") { Description = "LoRA and Lily only, plus Lily deployed as LoRA: frozen routing, exported LoRA, squeezed ranks" };
    public Option<string> Device { get; } = new Option<string>("--device") { Description = "cpu or cuda (cuda needs a build with -p:TorchBackend=cuda)", DefaultValueFactory = _ => "cpu" };
    public Option<int> Threads { get; } = new Option<int>("--threads") { Description = "Torch CPU threads (0: libtorch's default)", DefaultValueFactory = _ => 1 };
    public Option<bool> Quick { get; } = new Option<bool>("--quick") { Description = "Smoke test: 4,000 training images per split, two epochs each; options given explicitly win" };
    public Option<int?> TrainSamples { get; } = new Option<int?>("--train-samples") { Description = "Training images per split (default: all, about 30,000)" };
    public Option<int?> TestSamples { get; } = new Option<int?>("--test-samples") { Description = "Test images per split (default: all, 5,000)" };
    public Option<bool> SweepFlag { get; } = new Option<bool>("--sweep") { Description = "Budget sweep instead: LoRA at each rank vs DoRA, Lily and CLoRA (with and without SADE) at the matched budget, Pareto, effective-rank and routing plots" };
    public Option<string[]> SweepVariants { get; } = new Option<string[]>("--sweep-variant") { Description = "Sweep variants: all-targets, attention-only, deep-all-targets (12 blocks) (default all; --quick runs the first)", DefaultValueFactory = _ => ["all-targets", "attention-only", "deep-all-targets"], AllowMultipleArgumentsPerToken = true };
    public Option<int> CLoraBases { get; } = new Option<int>("--clora-bases") { Description = "Sweep: CLoRA's number of shared base pairs p", DefaultValueFactory = _ => 4 };
    public Option<double> SadeWeight { get; } = new Option<double>("--sade-weight") { Description = "Sweep: CLoRA's SADE weight for the clora-sade runs (0: none)", DefaultValueFactory = _ => 0.1 };
    public static readonly string[] SweepMethodNames = ["lora", "dora", "lily", "clora", "clora-sade"];
    public Option<string[]> SweepMethods { get; } = new Option<string[]>("--sweep-methods") { Description = "Sweep: methods to run at each budget, among lora, dora, lily, clora, clora-sade (lora always: every row is compared with it)", DefaultValueFactory = _ => SweepMethodNames, AllowMultipleArgumentsPerToken = true };
    public Option<int[]> SweepRanks { get; } = new Option<int[]>("--sweep-ranks") { Description = "Sweep: LoRA ranks, each sets one budget", DefaultValueFactory = _ => [1, 2, 4, 8, 16], AllowMultipleArgumentsPerToken = true };
    public Option<int> SweepStride { get; } = new Option<int>("--sweep-stride") { Description = "Sweep: Lily's stride_A", DefaultValueFactory = _ => 1 };
    public Option<bool> DataParallel { get; } = new Option<bool>("--data-parallel") { Description = "Under mpiexec -n N: LoRA and Lily fine-tuned data-parallel, each rank on its part of every batch (docs/distributed.md)" };
    public Option<int> AnalysisRank { get; } = new Option<int>("--analysis-rank") { Description = "Sweep: the LoRA rank whose budget gets the effective-rank and routing plots", DefaultValueFactory = _ => 4 };
    public Option<double[]> TuneLr { get; } = new Option<double[]>("--tune-lr") { Description = "Sweep: tune each method's learning rate over this grid on a validation split of the training images (seed: the first of --seeds), then test the choice with every seed (default: off, 2e-3 for all)", AllowMultipleArgumentsPerToken = true };
    public Option<double[]> TuneScaling { get; } = new Option<double[]>("--tune-scaling") { Description = "Sweep with --tune-lr: Lily's and CLoRA's scaling grid, crossed with the learning rates (LoRA and DoRA keep alpha/r)", DefaultValueFactory = _ => [1.0], AllowMultipleArgumentsPerToken = true };
    public Option<int[]> TuneCLoraBases { get; } = new Option<int[]>("--tune-clora-p") { Description = "Sweep with --tune-lr: CLoRA's numbers of shared base pairs p to tune over, each matched to the budget (default: --clora-bases only)", AllowMultipleArgumentsPerToken = true };
    public Option<double[]> TuneSadeWeights { get; } = new Option<double[]>("--tune-sade-weight") { Description = "Sweep with --tune-lr: SADE weights (> 0) to tune CLoRA + SADE over (default: --sade-weight only)", AllowMultipleArgumentsPerToken = true };
    public Option<double> ValidationFraction { get; } = new Option<double>("--validation-fraction") { Description = "Sweep with --tune-lr: share of each class of the training images held out for validation", DefaultValueFactory = _ => 0.2 };

    public RootCommand Root { get; }

    public ExperimentCommandLine()
    {
        Root = new RootCommand("Lily vs LoRA on Fashion-MNIST")
        {
            Data, Output, Seeds, Epochs, PretrainEpochs, LoraRank, StrideA, Experts, Routing, Deploy, Device, Threads, Quick, TrainSamples, TestSamples,
            SweepFlag, SweepVariants, SweepMethods, SweepRanks, SweepStride, AnalysisRank, CLoraBases, SadeWeight, TuneLr, TuneScaling, TuneCLoraBases,
            TuneSadeWeights, ValidationFraction, DataParallel,
        };
    }

    // An option's value counts only when it was typed: otherwise the defaults (--quick's, if given) stand.
    private static bool Given(ParseResult parsed, Option option) => parsed.GetResult(option) is { Implicit: false };

    private static T Pick<T>(ParseResult parsed, Option<T> option, T fallback) => Given(parsed, option) ? parsed.GetValue(option)! : fallback;

    /// <summary>The run's settings: the defaults, <c>--quick</c>'s preset over them, then every option given explicitly.</summary>
    public FashionMnistOptions Options(ParseResult parsed)
    {
        var defaults = parsed.GetValue(Quick) ? new FashionMnistOptions().Quick() : new FashionMnistOptions();
        return new FashionMnistOptions
        {
            DataFolder = Pick(parsed, Data, defaults.DataFolder),
            OutputFolder = Pick(parsed, Output, defaults.OutputFolder),
            Seeds = Pick(parsed, Seeds, defaults.Seeds.ToArray()),
            FineTuneEpochs = Pick(parsed, Epochs, defaults.FineTuneEpochs),
            PretrainEpochs = Pick(parsed, PretrainEpochs, defaults.PretrainEpochs),
            LoraRank = Pick(parsed, LoraRank, defaults.LoraRank),
            LilyStrideA = Pick(parsed, StrideA, defaults.LilyStrideA),
            LilyExperts = Pick(parsed, Experts, defaults.LilyExperts),
            Device = Pick(parsed, Device, defaults.Device),
            Threads = Pick(parsed, Threads, defaults.Threads),
            TrainSamples = Pick(parsed, TrainSamples, defaults.TrainSamples),
            TestSamples = Pick(parsed, TestSamples, defaults.TestSamples),
        };
    }

    /// <summary>The sweep's settings, by the same rule as <see cref="Options"/>.</summary>
    public SweepOptions Sweep(ParseResult parsed)
    {
        var defaults = parsed.GetValue(Quick) ? new SweepOptions().Quick() : new SweepOptions();
        var sweep = new SweepOptions
        {
            Variants = Pick(parsed, SweepVariants, defaults.Variants.ToArray()),
            Methods = Pick(parsed, SweepMethods, defaults.Methods.ToArray()),
            LoraRanks = Pick(parsed, SweepRanks, defaults.LoraRanks.ToArray()),
            StrideA = Pick(parsed, SweepStride, defaults.StrideA),
            AnalysisRank = Pick(parsed, AnalysisRank, defaults.AnalysisRank),
            CLoraBases = Pick(parsed, CLoraBases, defaults.CLoraBases),
            SadeWeight = Pick(parsed, SadeWeight, defaults.SadeWeight),
            TuneLearningRates = parsed.GetValue(TuneLr) ?? [],
            TuneScaling = Pick(parsed, TuneScaling, defaults.TuneScaling.ToArray()),
            TuneCLoraBases = parsed.GetValue(TuneCLoraBases) ?? [],
            TuneSadeWeights = parsed.GetValue(TuneSadeWeights) ?? [],
            ValidationFraction = Pick(parsed, ValidationFraction, defaults.ValidationFraction),
        };
        // --quick's ranks follow an analysis rank given explicitly, so the pair stays valid.
        if (parsed.GetValue(Quick) && !Given(parsed, SweepRanks) && Given(parsed, AnalysisRank))
            sweep = sweep with { LoraRanks = new[] { 1, sweep.AnalysisRank }.Distinct().ToList() };
        return sweep;
    }
}
