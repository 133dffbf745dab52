using BenchmarkDotNet.Running;

namespace Lily.Benchmarks;

/// <summary>
/// Runs the benchmarks: <c>dotnet run -c Release --project bench/Lily.Benchmarks -- --filter '*'</c>.
/// Besides BenchmarkDotNet's options it takes <c>--device cpu|cuda</c> and <c>--threads N</c>;
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
        var options = BenchOptions.Parse(args, out var rest);
        BenchOptions.Current = options;

        if (rest.Length > 0 && rest[0] == NativeMemory.Command)
            return NativeMemory.Probe(rest[1..], (kind, target, operation) =>
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
        if (rest.Length > 0 && rest[0] == PairedRunner.Command)
            return PairedRunner.Run(rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 30);
        if (rest.Length > 0 && rest[0] == Llama.LlamaRunner.Command)
            return Llama.LlamaRunner.Run(rest[1..]);
        if (rest.Length > 0 && rest[0] == Llama.LeverRunner.Command)
            return Llama.LeverRunner.Run(rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 30, rest.Length > 2 ? rest[2] : null);
        if (rest.Length > 0 && rest[0] == SadeRunner.Command)
            return SadeRunner.Run(rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 30);
        if (rest.Length > 0 && rest[0] == SiteCost.SiteCostRunner.Command)
            return SiteCost.SiteCostRunner.Run(rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 30, rest.Contains("--tiny"));
        if (rest.Length > 0 && rest[0] == Bert.BertRunner.Command)
            return Bert.BertRunner.Run(rest[1..]);
        if (rest.Length > 0 && rest[0] == MixedBatchRunner.Command)
            return MixedBatchRunner.Run(rest.Length > 1 ? int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 15);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, BenchConfig.Create());
        return 0;
    }
}
