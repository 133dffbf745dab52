using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lily.Distributed;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

using Lily.FashionMnist;
using Lily.Tuners;

namespace Lily.Experiments.FashionMnist;

/// <summary>
/// <c>--data-parallel</c>: LoRA and Lily fine-tuned data-parallel over an MPI job (<c>mpiexec -n N</c>).
/// Every rank goes through the same shuffled global batches (same seed) and computes on its own part
/// of each (<see cref="Shards"/>); <see cref="DataParallel{TModel}.AverageGradients(long)"/> makes the
/// step the one a single process takes on the whole batch, so <c>-n 1</c> and <c>-n 2</c> reach the
/// same accuracy. Lily routes per sample here: PEFT's batch-mean routing would mix experts by each
/// rank's part of the batch (docs/distributed.md). Rank 0 prints and writes <c>data-parallel.md</c>.
/// </summary>
internal sealed class DataParallelRun(FashionMnistOptions options, MpiWorld world, IAnsiConsole console)
{
    private static readonly string[] Methods = ["lora", "lily-per-sample"];

    /// <summary>Runs the mode in an MPI job of its own; returns the exit code.</summary>
    public static int Launch(FashionMnistOptions options, string command)
    {
        // Aborts the whole job if any rank throws, and refuses a start without mpiexec.
        MpiWorld world;
        try
        {
            world = MpiWorld.Initialize();
        }
        catch (MpiException e)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 2;
        }

        using var scope = world;
        var console = world.IsRoot ? AnsiConsole.Console : AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });
        new DataParallelRun(options, world, console).Run(command);
        return 0;
    }

    private void Run(string command)
    {
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        console.MarkupLine($"Data-parallel: {world.Size} ranks, global batch {options.BatchSize}, {Markup.Escape(world.LibraryPath)}.");
        var (preTrain, preTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.PretrainClasses, options.TrainSamples, options.TestSamples, seed: 0);
        var (adaptTrain, adaptTest) = FashionMnistDataset.LoadTrainTest(options.DataFolder, FineTuning.AdaptClasses, options.TrainSamples, options.TestSamples, seed: 0);

        // Every rank pretrains the same way (no rank idles in a busy-waiting MPI call meanwhile);
        // rank 0's weights are then sent to all, so the frozen bases are equal bit for bit.
        var pretrained = new FineTuning(options, console).Pretrain(preTrain, preTest, CPU);
        foreach (var tensor in pretrained.Values) world.Broadcast(tensor.bytes);

        var lora = FineTuning.LoraConfigFor(options.LoraRank, FineTuning.Targets);
        var lily = (LilyConfig)FineTuning.MatchLily(lora, FineTuning.Targets, options.LilyStrideA, options.LilyExperts).Config with { Routing = LilyRouting.PerSample };
        var rows = new List<string>();
        long elements = 0;
        console.MarkupLine(Markup.Escape(TableHeader));   // the rows below print as they finish
        foreach (var seed in options.Seeds)
        {
            foreach (var method in Methods)
            {
                var (row, gradientElements) = FineTune(method == "lora" ? lora : lily, method, seed, pretrained, adaptTrain, adaptTest);
                rows.Add(row);
                elements = Math.Max(elements, gradientElements);
                console.MarkupLine(Markup.Escape(row));
            }
        }

        var transfer = AllReduceAlone(elements);
        var note = string.Create(CultureInfo.InvariantCulture,
            $"The all-reduce column includes waiting for the slowest rank; the all-reduce of {elements:N0} floats alone (after a barrier, mean of 100) takes {1000 * transfer:F3} ms.");
        console.MarkupLine(Markup.Escape(note));
        if (world.IsRoot) Write(command, rows, note);
        foreach (var d in new[] { preTrain, preTest, adaptTrain, adaptTest }) d.Dispose();
        foreach (var t in pretrained.Values) t.Dispose();
    }

    private (string Row, long GradientElements) FineTune(PeftConfig config, string method, int seed, Dictionary<string, Tensor> pretrained, FashionMnistDataset train, FashionMnistDataset test)
    {
        torch.manual_seed(seed);
        using var model = FineTuning.BuildModel();
        model.load_state_dict(pretrained);
        model.ResetHead();
        // begin-snippet: data-parallel
        var peft = PeftModel.Create(model, config);          // the same model and config on every rank
        var dp = DataParallel.Create(peft, world);           // checks the ranks agree, copies rank 0's adapter to all
        using var optimizer = optim.AdamW(peft.TrainableParameters(), 2e-3, weight_decay: 0.01);

        double stepSeconds = 0, reduceSeconds = 0, accuracy = 0;
        long steps = 0;
        for (int epoch = 0; epoch < options.FineTuneEpochs; epoch++)
        {
            model.train();
            // The same global batches, in the same order, on every rank.
            foreach (var (x, y) in train.Batches(options.BatchSize, shuffle: true, seed: 1000 * seed + epoch))
            {
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                var part = Shards.Range(x.shape[0], world);      // this rank's run of the batch
                optimizer.zero_grad();
                if (part.Length > 0)
                {
                    var logits = model.call(x.narrow(0, part.Start, part.Length));
                    nn.functional.cross_entropy(logits, y.narrow(0, part.Start, part.Length)).backward();
                }

                dp.AverageGradients(part.Length);                // the whole batch's gradient, on every rank
                optimizer.step();
                stepSeconds += clock.Elapsed.TotalSeconds;
                reduceSeconds += dp.LastAllReduceSeconds;
                steps++;
            }

            // Every rank holds the same weights, so every rank can score the test set without waiting for another.
            accuracy = Trainer.Evaluate(model, test);
            console.MarkupLine($"  seed {seed} {method} epoch {epoch + 1}: test accuracy {accuracy:P2}");
        }

        dp.Save(Path.Combine(options.OutputFolder, "adapters", $"{method}-seed{seed}"));   // rank 0 writes, the others wait
        // end-snippet

        return (string.Create(CultureInfo.InvariantCulture,
            $"| {method} | {seed} | {accuracy:P2} | {steps} | {1000 * stepSeconds / steps:F2} | {1000 * reduceSeconds / steps:F3} | {dp.GradientElements:N0} ({dp.GradientElements * 4 / 1024.0:F0} KiB) |"), dp.GradientElements);
    }

    /// <summary>Seconds one all-reduce of <paramref name="elements"/> floats takes when no rank is late.</summary>
    private double AllReduceAlone(long elements)
    {
        var buffer = new float[elements];
        world.Barrier();
        var start = world.WallTime();
        for (int i = 0; i < 100; i++) world.AllReduce(buffer.AsSpan());
        return (world.WallTime() - start) / 100;
    }

    /// <summary>The header of the rows <see cref="FineTune"/> returns, on the console and in data-parallel.md.</summary>
    private static readonly string TableHeader =
        "| method | seed | test accuracy | steps | step ms (rank 0) | all-reduce ms | gradient elements |" + Environment.NewLine +
        "| --- | --- | --- | --- | --- | --- | --- |";

    private void Write(string command, IReadOnlyList<string> rows, string note)
    {
        // Under mpiexec the built program runs, not `dotnet run` (which would build once per rank).
        command = command.Replace("dotnet run -c Release --project experiments/Lily.Experiments --",
            "dotnet experiments/Lily.Experiments/bin/Release/net10.0/Lily.Experiments.dll", StringComparison.Ordinal);
        Directory.CreateDirectory(options.OutputFolder);
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# Data-parallel fine-tuning, {world.Size} ranks")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"`mpiexec -n {world.Size} {command}`; global batch {options.BatchSize}, each rank on its part of every batch; MPI: {world.LibraryVersion.Split('\n')[0].Replace('\t', ' ')}.")
            .AppendLine()
            .AppendLine(TableHeader);
        foreach (var row in rows) text.AppendLine(row);
        text.AppendLine().AppendLine(note);
        File.WriteAllText(Path.Combine(options.OutputFolder, "data-parallel.md"), text.ToString());
        console.MarkupLine($"Wrote [blue]{Markup.Escape(Path.Combine(options.OutputFolder, "data-parallel.md"))}[/].");
    }
}
