using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// Builds CLoRA layers and the base spaces they share. Layers are grouped by weight shape and, with
/// <see cref="CLoraSharing.TargetType"/>, by the target entry that chose them; each group gets one
/// <c>clora_D</c> (<c>[p·r, d_in]</c>) and one <c>clora_U</c> (<c>[p·r, d_out]</c>), and each layer its
/// own cores <c>clora_Q</c> (<c>[p, r, r]</c>).
/// </summary>
internal sealed class CLoraBuilder(CLoraConfig config) : AdapterBuilder
{
    private readonly Dictionary<GroupKey, Group> groups = new();

    /// <inheritdoc />
    public override AdapterLinear Build(AdapterTarget target, Device device, ScalarType adapterDtype)
    {
        var baseLayer = target.BaseLayer;
        var entry = config.ShareBy == CLoraSharing.TargetType ? target.TargetEntry : "";
        var key = new GroupKey(entry, baseLayer.in_features, baseLayer.out_features);
        if (!groups.TryGetValue(key, out var group))
        {
            group = new Group(NewBases(key, device, adapterDtype));
            groups.Add(key, group);
        }
        group.Layers++;
        return new CLoraLinear(baseLayer, group.Bases.D, group.Bases.U, config.NumBases, config.R, config.Scaling, config.SadeWeight, config.InitWeights);
    }

    // D as nn.Linear(d_in, p·r) would start (kaiming-uniform, a = √5: bound 1/√d_in); each U_h as the
    // weight of nn.Linear(r, d_out) would (bound 1/√r), stored transposed so U_h is rows h·r … h·r + r − 1.
    private (CLoraFactor D, CLoraFactor U) NewBases(GroupKey key, Device device, ScalarType dtype)
    {
        long width = (long)config.NumBases * config.R;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var d = empty(width, key.InFeatures, dtype: dtype, device: device);
        nn.init.kaiming_uniform_(d, a: Math.Sqrt(5));
        var u = empty(width, key.OutFeatures, dtype: dtype, device: device);
        double bound = 1 / Math.Sqrt(config.R);
        nn.init.uniform_(u, -bound, bound);
        return (new CLoraFactor("CLoraDown", d), new CLoraFactor("CLoraUp", u));
    }

    /// <inheritdoc />
    public override void LogSummary(ILogger logger)
    {
        foreach (var (key, group) in groups)
        {
            logger.LogInformation(
                "CLoRA: {Group} [{In} -> {Out}]: {Layers} layers share {P} base pairs of rank {R} (rank of each update up to {Max}), {Layers} sets of cores",
                key.TargetType.Length == 0 ? "shape" : $"target type {key.TargetType}", key.InFeatures, key.OutFeatures, group.Layers,
                config.NumBases, config.R, (long)config.NumBases * config.R, group.Layers);
        }
    }

    private readonly record struct GroupKey(string TargetType, long InFeatures, long OutFeatures);

    private sealed class Group((CLoraFactor D, CLoraFactor U) bases)
    {
        public (CLoraFactor D, CLoraFactor U) Bases { get; } = bases;
        public int Layers { get; set; }
    }
}
