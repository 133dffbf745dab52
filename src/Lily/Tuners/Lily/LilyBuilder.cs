using Microsoft.Extensions.Logging;
using TorchSharp.Modules;

namespace Lily;

/// <summary>
/// Builds Lily layers and the parts they share. Layers are grouped by target type (the module
/// path without its block indices, e.g. <c>blocks.attn.q_proj</c>) and weight shape, in the model's traversal order:
/// the i-th layer of a group uses A number <c>i / stride_A</c> of that group and the group's
/// single expert pool.
/// </summary>
internal sealed class LilyBuilder(LilyConfig config) : AdapterBuilder
{
    private readonly Dictionary<LilyGroupKey, LilyGroup> groups = new();

    /// <inheritdoc />
    public override AdapterLinear Build(string path, Linear baseLayer, torch.ScalarType adapterDtype)
    {
        var key = new LilyGroupKey(TargetType(path), baseLayer.in_features, baseLayer.out_features);
        if (!groups.TryGetValue(key, out var group))
        {
            var device = baseLayer.weight!.device;
            group = new LilyGroup(new LilyExpertPool(config.NumB, config.R, key.OutFeatures, device, adapterDtype));
            groups.Add(key, group);
        }

        int block = group.Layers / config.StrideA;
        if (block == group.DownProjections.Count)
        {
            var a = torch.nn.Linear(key.InFeatures, config.R, hasBias: false, device: baseLayer.weight!.device, dtype: adapterDtype);
            using (torch.no_grad())
                torch.nn.init.kaiming_uniform_(a.weight!, a: Math.Sqrt(5));
            group.DownProjections.Add(a);
        }
        group.Layers++;
        return new LilyLinear(baseLayer, group.DownProjections[block], group.Pool, config.Scaling, config.Routing);
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger)
    {
        foreach (var (key, group) in groups)
        {
            logger.LogInformation(
                "Lily: target type {Target} [{In} -> {Out}]: {Layers} layers, {As} shared A (stride {Stride}), 1 pool of {Experts} B experts, {Layers} routers",
                key.TargetType, key.InFeatures, key.OutFeatures, group.Layers, group.DownProjections.Count, config.StrideA, config.NumB, group.Layers);
        }
    }

    /// <summary>
    /// The module path without its numeric components, so that the same layer of every block
    /// forms one type: <c>blocks.3.attn.q_proj</c> → <c>blocks.attn.q_proj</c>, <c>proj.7</c> → <c>proj</c>.
    /// </summary>
    internal static string TargetType(string path)
    {
        var parts = path.Split('.').Where(p => !p.All(char.IsAsciiDigit)).ToArray();
        return parts.Length == 0 ? path : string.Join('.', parts);
    }

    private readonly record struct LilyGroupKey(string TargetType, long InFeatures, long OutFeatures);

    private sealed class LilyGroup(LilyExpertPool pool)
    {
        public LilyExpertPool Pool { get; } = pool;
        public List<Linear> DownProjections { get; } = new();
        public int Layers { get; set; }
    }
}
