using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>
/// A root that is a plain <c>nn.Module</c> (no forward signature, so no hooks) with its own <c>Run</c>
/// method: <c>a</c> is called through <c>call()</c>, <c>b</c> through <c>forward()</c> unless told otherwise.
/// </summary>
public sealed class PlainRootModel : nn.Module
{
    private readonly Linear a;
    private readonly Linear b;

    /// <summary>Creates the model.</summary>
    public PlainRootModel(long dim) : base(nameof(PlainRootModel))
    {
        a = nn.Linear(dim, dim);
        b = nn.Linear(dim, dim);
        RegisterComponents();
    }

    /// <summary>When true, <c>b</c> is called through <c>call()</c> too.</summary>
    public bool BThroughCall { get; set; }

    /// <summary>The model's computation: b(tanh(a(x))).</summary>
    public Tensor Run(Tensor x) => BThroughCall ? b.call(a.call(x).tanh()) : b.forward(a.call(x).tanh());
}
