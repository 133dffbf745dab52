using System.CommandLine;
using Lily.FashionMnist;
using Lily.Tuners;
using Lily;
using Spectre.Console;
using TorchSharp;

// Lily vs LoRA on Fashion-MNIST: pretrain a small ViT on classes 0–4, adapt it to classes 5–9 with the head
// only, LoRA, Lily (at LoRA's trainable budget) and full fine-tuning, and print the table.
// The data, the ViT and the training steps are in shared/Lily.FashionMnist; the research runs (sweeps, the
// deployment study, data-parallel training) in experiments/Lily.Experiments.

// 1. The command line. --quick replaces the defaults with a smoke-test preset; an option given explicitly wins.
var data = new Option<string>("--data") { Description = "Folder with the Fashion-MNIST idx files", DefaultValueFactory = _ => FashionMnistDataset.DefaultFolder };
var output = new Option<string>("--output") { Description = "Folder for results.csv, results.md, learning-curves.png and the adapters", DefaultValueFactory = _ => "out/fashion-mnist" };
var seeds = new Option<int[]>("--seeds") { Description = "Fine-tuning seeds, e.g. --seeds 1 2 3", DefaultValueFactory = _ => [1], AllowMultipleArgumentsPerToken = true };
var epochs = new Option<int>("--epochs") { Description = "Fine-tuning epochs per method", DefaultValueFactory = _ => 3 };
var pretrainEpochs = new Option<int>("--pretrain-epochs") { Description = "Pretraining epochs on classes 0–4", DefaultValueFactory = _ => 4 };
var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank; sets the budget Lily's rank is matched to", DefaultValueFactory = _ => 4 };
var strideA = new Option<int>("--lily-stride") { Description = "Lily: consecutive layers sharing one A", DefaultValueFactory = _ => 2 };
var experts = new Option<int>("--lily-experts") { Description = "Lily: B experts per target type", DefaultValueFactory = _ => 2 };
var device = new Option<string>("--device") { Description = "cpu or cuda (cuda needs a build with -p:TorchBackend=cuda)", DefaultValueFactory = _ => "cpu" };
var threads = new Option<int>("--threads") { Description = "Torch CPU threads (0: libtorch's default)", DefaultValueFactory = _ => 1 };
var quick = new Option<bool>("--quick") { Description = "Smoke test: 4,000 training images per split, two epochs each; options given explicitly win" };
var trainSamples = new Option<int?>("--train-samples") { Description = "Training images per split (default: all, about 30,000)" };
var testSamples = new Option<int?>("--test-samples") { Description = "Test images per split (default: all, 5,000)" };
var root = new RootCommand("Lily vs LoRA on Fashion-MNIST")
{
    data, output, seeds, epochs, pretrainEpochs, loraRank, strideA, experts, device, threads, quick, trainSamples, testSamples,
};

root.SetAction(parsed =>
{
    T Pick<T>(Option<T> option, T fallback) => parsed.GetResult(option) is { Implicit: false } ? parsed.GetValue(option)! : fallback;
    var defaults = parsed.GetValue(quick) ? new FashionMnistOptions().Quick() : new FashionMnistOptions();
    var options = new FashionMnistOptions
    {
        DataFolder = Pick(data, defaults.DataFolder),
        OutputFolder = Pick(output, defaults.OutputFolder),
        Seeds = Pick(seeds, defaults.Seeds.ToArray()),
        FineTuneEpochs = Pick(epochs, defaults.FineTuneEpochs),
        PretrainEpochs = Pick(pretrainEpochs, defaults.PretrainEpochs),
        LoraRank = Pick(loraRank, defaults.LoraRank),
        LilyStrideA = Pick(strideA, defaults.LilyStrideA),
        LilyExperts = Pick(experts, defaults.LilyExperts),
        Device = Pick(device, defaults.Device),
        Threads = Pick(threads, defaults.Threads),
        TrainSamples = Pick(trainSamples, defaults.TrainSamples),
        TestSamples = Pick(testSamples, defaults.TestSamples),
    };
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

    // 2. The data: classes 0–4 to pretrain on, classes 5–9 to adapt to.
    if (options.Threads > 0) torch.set_num_threads(options.Threads);
    var onDevice = torch.device(options.Device);
    Directory.CreateDirectory(options.OutputFolder);
    var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
    var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);
    AnsiConsole.MarkupLine($"Fashion-MNIST from [blue]{Markup.Escape(options.DataFolder)}[/]: pretraining on classes 0–4 ({preTrain.Count:N0} train / {preTest.Count:N0} test), adapting to classes 5–9 ({adaptTrain.Count:N0} / {adaptTest.Count:N0}); device {onDevice}, {torch.get_num_threads()} threads.");

    // 3. Pretrain the ViT on classes 0–4.
    var steps = new FineTuning(options, AnsiConsole.Console);
    var pretrained = steps.Pretrain(preTrain, preTest, onDevice);

    // 4. The methods, in the table's order: LoRA at its rank, Lily at the rank that matches LoRA's trainable count
    //    (the library's BudgetMatcher), and the two references without an adapter (null).
    var lora = FineTuning.LoraConfigFor(options.LoraRank, FineTuning.Targets);
    var lily = FineTuning.MatchLily(lora, FineTuning.Targets, options.LilyStrideA, options.LilyExperts);
    AnsiConsole.MarkupLine($"Budget (PeftPlan, head included): LoRA r = {options.LoraRank} → {lily.Budget:N0} trainable parameters; Lily r = {((LilyConfig)lily.Config).R} (stride_A {options.LilyStrideA}, {options.LilyExperts} experts) → {lily.Trainable:N0} ({lily.RelativeGap:+0.0%;-0.0%}).");
    (string Name, PeftConfig? Config)[] methods = [("head", null), ("lora", lora), ("lily", lily.Config), ("full", null)];

    // 5. Fine-tune each method from the pretrained weights, once per seed.
    var results = new List<MethodResult>();
    foreach (int seed in options.Seeds)
    {
        foreach (var (name, config) in methods)
        {
            var result = steps.FineTune(name, seed, config, pretrained, adaptTrain, adaptTest, onDevice);
            AnsiConsole.MarkupLine($"  seed {seed} [bold]{name,-16}[/] test accuracy {result.TestAccuracy:P2}, {result.TrainableParameters:N0} trainable, {result.Seconds:F1} s, {result.FileBytes:N0} bytes saved ({result.CompactFileBytes:N0} compact)");
            results.Add(result);
        }
    }
    foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
    foreach (var t in pretrained.Values) t.Dispose();

    // 6. The table, results.csv, results.md and learning-curves.png.
    Report.Write(results, options.OutputFolder, command, AnsiConsole.Console);
    return 0;
});
Lily.ConsoleOutput.PlainConsole.WhenRedirected(AnsiConsole.Console, Console.IsOutputRedirected);
return root.Parse(args).Invoke();
