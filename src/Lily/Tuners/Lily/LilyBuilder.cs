using Microsoft.Extensions.Logging;
using TorchSharp.Modules;

namespace Lily.Tuners;

/// <summary>
/// Builds Lily layers and the parts they share. Layers are grouped as PEFT groups them: by
/// target type — the <c>target_modules</c> entry that matched the path (<c>q_proj</c>), or the
/// pattern itself when target modules is a regular expression — and by weight shape. In the
/// model's traversal order, the i-th layer of a group uses A number <c>i / stride_A</c> of that
/// group and the group's single expert pool. Without sharing (<see cref="LilyConfig.ShareAcrossLayers"/>
/// false) every layer is a group of its own.
/// </summary>
internal sealed class LilyBuilder(LilyConfig config) : AdapterBuilder
{
    private readonly Dictionary<LilyGroupKey, LilyGroup> groups = new();

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, torch.Device device, torch.ScalarType adapterDtype)
    {
        var baseLayer = target.BaseLayer;
        var key = new LilyGroupKey(config.ShareAcrossLayers ? target.TargetEntry : target.Path, baseLayer.in_features, baseLayer.out_features);
        if (!groups.TryGetValue(key, out var group))
        {
            var pool = new LilyExpertPool(config.NumB, config.R, key.OutFeatures, device, adapterDtype);
            if (!config.InitWeights)
            {
                using (torch.no_grad())
                    torch.nn.init.kaiming_uniform_(pool.Weight, a: Math.Sqrt(5));
            }
            group = new LilyGroup(pool);
            groups.Add(key, group);
        }

        int block = group.Layers / config.StrideA;
        if (block == group.DownProjections.Count)
        {
            var a = torch.nn.Linear(key.InFeatures, config.R, hasBias: false, device: device, dtype: adapterDtype);
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
        if (!config.ShareAcrossLayers)
        {
            logger.LogInformation("Lily without sharing: {Layers} layers, each with its own A, pool of {Experts} B experts and router", groups.Count, config.NumB);
            return;
        }
        foreach (var (key, group) in groups)
        {
            logger.LogInformation(
                "Lily: target type {Target} [{In} -> {Out}]: {Layers} layers, {As} shared A (stride {Stride}), 1 pool of {Experts} B experts, {Layers} routers",
                key.TargetType, key.InFeatures, key.OutFeatures, group.Layers, group.DownProjections.Count, config.StrideA, config.NumB, group.Layers);
        }
    }

    private readonly record struct LilyGroupKey(string TargetType, long InFeatures, long OutFeatures);

    private sealed class LilyGroup(LilyExpertPool pool)
    {
        public LilyExpertPool Pool { get; } = pool;
        public List<Linear> DownProjections { get; } = new();
        public int Layers { get; set; }
    }
}
