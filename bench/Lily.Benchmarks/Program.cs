using BenchmarkDotNet.Running;

namespace Lily.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project bench/Lily.Benchmarks -- --filter '*'</c>.
/// One parser reads the line (<see cref="BenchOptions.Parse"/>). Besides BenchmarkDotNet's options it takes <c>--device cpu|cuda</c> and <c>--threads N</c>;
/// <c>--paired [rounds]</c> instead runs the interleaved ratio measurement (<see cref="PairedRunner"/>),
/// <c>--mixed [rounds]</c> the cost of mixed-adapter batches (<see cref="MixedBatchRunner"/>),
/// <c>--llama [rounds] [--quick]</c> adapter overhead against FLOP share on a Llama-style stack (<see cref="Llama.LlamaRunner"/>),
/// <c>--levers [rounds] [group]</c> the adapter-local levers of that overhead (<see cref="Llama.LeverRunner"/>),
/// <c>--sade [rounds]</c> CLoRA's SADE term with and without sharing its groups' Gram blocks (<see cref="SadeRunner"/>),
/// <c>--sitecost [rounds] [--tiny]</c> the fixed cost per adapted layer apart from its arithmetic (<see cref="SiteCost.SiteCostRunner"/>),
/// <c>--bert [rounds] [--targets qv|all] [--quick]</c> cost per method on the MiniLM-shaped BERT classifier (<see cref="Bert.BertRunner"/>).
/// </summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        var options = BenchOptions.Parse(args);
        BenchOptions.Current = options;

        if (options.Mode == NativeMemory.Command)
            return NativeMemory.Probe([.. options.Words], (kind, target, operation) =>
            {
                torch.set_num_threads(options.Threads);
                return kind switch
                {
                    "layer" => LayerBenchmarks.ProbeOperation(target, operation),
                    "train" => TrainingStepBenchmarks.ProbeOperation(target),
                    "llama" => Llama.LlamaRunner.ProbeOperation(target),
                    "bert" => Bert.BertRunner.ProbeOperation(target, operation),
                    _ => throw new ArgumentException($"Unknown probe kind '{kind}'."),
                };
            });

        torch.set_num_threads(options.Threads);
        if (options.IsCuda && !torch.cuda.is_available())
        {
            Console.Error.WriteLine("--device cuda: CUDA is not available. Build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU.");
            return 2;
        }
        Console.WriteLine($"Lily benchmarks: device {options.Device}, torch threads {torch.get_num_threads()}, {Environment.ProcessorCount} logical CPUs.");
        switch (options.Mode)
        {
            case PairedRunner.Command: return PairedRunner.Run(options.Rounds ?? 30);
            case Llama.LlamaRunner.Command: return Llama.LlamaRunner.Run(options.Rounds, options.Quick, options.Tax);
            case Llama.LeverRunner.Command: return Llama.LeverRunner.Run(options.Rounds ?? 30, options.Words.FirstOrDefault());
            case SadeRunner.Command: return SadeRunner.Run(options.Rounds ?? 30);
            case SiteCost.SiteCostRunner.Command: return SiteCost.SiteCostRunner.Run(options.Rounds ?? 30, options.Tiny);
            case Bert.BertRunner.Command: return Bert.BertRunner.Run(options.Rounds, options.Quick, options.Targets);
            case MixedBatchRunner.Command: return MixedBatchRunner.Run(options.Rounds ?? 15);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. options.BenchmarkArguments], BenchConfig.Create());
        return 0;
    }
}
