using BenchmarkDotNet.Attributes;

namespace Lily.Benchmarks;

/// <summary>
/// One square Linear layer (d → d) on input <c>[batch, tokens, d]</c>: frozen alone, with LoRA
/// r = 8, and with Lily in each routing mode at the rank that matches LoRA's budget on a 12-layer
/// stack. <see cref="Forward"/> is inference (no graph); <see cref="ForwardBackward"/> is a training
/// pass into the input and the adapter's parameters.
/// </summary>
[Config(typeof(LayerColumns))]
public class LayerBenchmarks
{
    private LayerCase? layerCase;

    /// <summary>The input shape: ViT-B's <c>8x197x768</c>, an LLM-like <c>1x512x1024</c> and a small <c>32x64x128</c>.</summary>
    [Params("8x197x768", "1x512x1024", "32x64x128")]
    public string Shape { get; set; } = "8x197x768";

    /// <summary>What the layer carries.</summary>
    [ParamsAllValues]
    public Adapter Adapter { get; set; }

    /// <summary>Builds the case and measures its native memory in a child process.</summary>
    [GlobalSetup]
    public void Setup()
    {
        layerCase = LayerCase.Create(Adapter, LayerShape.Parse(Shape), BenchOptions.Current.TorchDevice);
        foreach (var op in new[] { "forward", "forward-backward" })
            NativeMemory.PeakBytes("layer", $"{Adapter}:{Shape}", op);
    }

    /// <summary>Frees the case.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        layerCase?.Dispose();
        layerCase = null;
    }

    /// <summary>Inference forward.</summary>
    [Benchmark]
    public void Forward() => layerCase!.Forward();

    /// <summary>Forward and backward, grads cleared first.</summary>
    [Benchmark]
    public void ForwardBackward() => layerCase!.ForwardBackward();

    /// <summary>The memory probe's side: the operation <paramref name="operation"/> of the case <c>Adapter:Shape</c>.</summary>
    public static ProbeTarget ProbeOperation(string target, string operation)
    {
        var parts = target.Split(':');
        var c = LayerCase.Create(Enum.Parse<Adapter>(parts[0]), LayerShape.Parse(parts[1]), BenchOptions.Current.TorchDevice);
        return operation switch
        {
            "forward" => new ProbeTarget(c.Forward, c.ClearGradients),
            "forward-backward" => new ProbeTarget(c.ForwardBackward, c.ClearGradients),
            _ => throw new ArgumentException($"Unknown operation '{operation}'."),
        };
    }
}
