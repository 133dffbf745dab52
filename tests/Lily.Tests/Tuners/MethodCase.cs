using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Tests.Tuners;

/// <summary>
/// One row of the method battery: a method (built in or defined outside the library), the config the
/// battery adapts <see cref="BatteryNet"/> with, and how to make the adapter mergeable when it is not by
/// itself (a routed method freezes its routing first).
/// </summary>
/// <param name="Name">The row's name in test output.</param>
/// <param name="PeftType">The config's <c>peft_type</c>: the battery checks every registered one has a row.</param>
/// <param name="Config">A fresh config; targets <c>q_proj</c>, <c>v_proj</c> and <c>fc1</c>.</param>
/// <param name="PrepareMerge">Run on the adapted model and an input before merging, or null.</param>
public sealed record MethodCase(string Name, string PeftType, Func<PeftConfig> Config, Action<PeftModel<BatteryNet>, Tensor>? PrepareMerge = null)
{
    /// <inheritdoc/>
    public override string ToString() => Name;
}
