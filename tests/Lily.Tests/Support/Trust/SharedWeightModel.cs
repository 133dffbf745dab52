using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Trust;

/// <summary>
/// Two layers <c>a</c> and <c>b</c> (fields typed <c>Module&lt;Tensor, Tensor&gt;</c>, so replaceable) that share
/// one weight Parameter, and a head that holds the same weight (a tied head). <c>b</c> runs only when
/// <see cref="UseB"/> is set; the head's output is added to the result.
/// </summary>
public sealed class SharedWeightModel : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> a;
    private readonly nn.Module<Tensor, Tensor> b;
    private readonly nn.Module<Tensor, Tensor> head;

    /// <summary>Features in and out.</summary>
    public const long Dim = 6;

    /// <summary>Creates the model; <paramref name="tiedHead"/> makes the head hold <c>a</c>'s weight as well.</summary>
    public SharedWeightModel(bool tiedHead) : base(nameof(SharedWeightModel))
    {
        var first = nn.Linear(Dim, Dim);
        var second = nn.Linear(Dim, Dim);
        second.weight = first.weight;
        var last = nn.Linear(Dim, Dim, hasBias: false);
        if (tiedHead) last.weight = first.weight;
        a = first;
        b = second;
        head = last;
        RegisterComponents();
    }

    /// <summary>Whether the forward runs <c>b</c>.</summary>
    public bool UseB { get; set; }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        var h = x + a.call(x);
        if (UseB) h = h + b.call(h);
        return h + head.call(h);
    }
}
