using TorchSharp.Modules;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// A user subclass of <c>ModuleList&lt;Linear&gt;</c> (TorchSharp's ModuleList is not sealed). Its element
/// type is the sealed <see cref="Linear"/>, so no other module type can be stored in it.
/// </summary>
public sealed class LinearStack : ModuleList<Linear>
{
    /// <summary>Creates <paramref name="count"/> square Linears; ModuleList registers them as "0", "1", ...</summary>
    /// <param name="count">Number of layers.</param>
    /// <param name="dim">Input and output features of each layer.</param>
    public LinearStack(int count, long dim) : base(Enumerable.Range(0, count).Select(_ => torch.nn.Linear(dim, dim)).ToArray())
    {
    }
}
