using static TorchSharp.torch;

namespace Lily.Injection;

/// <summary>
/// Moves hooked adapters along when their parent moves. TorchSharp's <c>Linear</c> overrides
/// <c>_to</c> and moves only its weight and bias, never its children, so adapter modules registered
/// under a hooked Linear would stay behind on <c>model.to(device)</c>. This parameterless module is
/// registered beside the Linear (in its parent, which does recurse) and forwards each move.
/// </summary>
internal sealed class DeviceFollower : nn.Module, IAdapterInternal
{
    private readonly List<AdapterSite> followers = new();

    public DeviceFollower() : base(nameof(DeviceFollower)) { }

    /// <summary>Name under which the follower is registered in a parent.</summary>
    public const string RegisteredName = "peft_device_follower";

    public void Follow(AdapterSite site) => followers.Add(site);

    public void Unfollow(AdapterSite site) => followers.Remove(site);

    public bool IsEmpty => followers.Count == 0;

    /// <inheritdoc />
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        foreach (var m in followers.SelectMany(s => s.AdapterModules)) m.to(device, dtype, non_blocking);
        return base._to(device, dtype, non_blocking);
    }

    /// <inheritdoc />
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        foreach (var m in followers.SelectMany(s => s.AdapterModules)) m.to(deviceType, deviceIndex, non_blocking);
        return base._to(deviceType, deviceIndex, non_blocking);
    }

    /// <inheritdoc />
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        foreach (var m in followers.SelectMany(s => s.AdapterModules)) m.to(dtype, non_blocking);
        return base._to(dtype, non_blocking);
    }
}
