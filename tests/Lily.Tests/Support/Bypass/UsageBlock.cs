using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>How a <see cref="UsageBlock"/> runs its <c>Linear</c> field <c>fc</c>.</summary>
public enum Usage
{
    /// <summary><c>fc.call(x)</c>: hooks fire.</summary>
    Call,

    /// <summary><c>fc.forward(x)</c>: hooks do not fire.</summary>
    Forward,

    /// <summary><c>functional.linear(x, fc.weight, fc.bias)</c>: the module does not run at all.</summary>
    Functional,

    /// <summary><c>fc.call(fc.call(x))</c>: the layer runs twice in one pass.</summary>
    Twice,

    /// <summary><c>fc.call</c> on a transposed (non-contiguous) view of the input.</summary>
    Transposed,

    /// <summary>Not at all: the block returns its input (a branch not taken).</summary>
    Skipped,
}

/// <summary>
/// A block whose layer <c>fc</c> runs in the way <see cref="Usage"/> says (switchable). By default <c>fc</c>
/// is a field typed <c>Linear</c>, so adapters hook it; a replaceable block holds it in a field typed
/// <c>Module&lt;Tensor, Tensor&gt;</c> instead (and, for functional use, a second field typed <c>Linear</c>
/// to read the weight from).
/// </summary>
public sealed class UsageBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear? linear;
    private readonly nn.Module<Tensor, Tensor> fc;

    /// <summary>Creates the block.</summary>
    public UsageBlock(long dim, Usage usage, bool replaceable = false) : base(nameof(UsageBlock))
    {
        var layer = nn.Linear(dim, dim);
        fc = layer;
        if (!replaceable || usage == Usage.Functional) linear = layer;
        Usage = usage;
        register_module("fc", layer);
    }

    private Linear Weights => linear ?? throw new InvalidOperationException("a replaceable block keeps no Linear reference");

    /// <summary>How the next forward runs <c>fc</c>; a model may switch it (a train path and an eval path).</summary>
    public Usage Usage { get; set; }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => Usage switch
    {
        Usage.Call => x + fc.call(x),
        Usage.Forward => x + fc.forward(x),
        Usage.Functional => x + nn.functional.linear(x, Weights.weight!, Weights.bias),
        Usage.Twice => x + fc.call(fc.call(x)),
        // The same values, read through a transposed copy of the layout: [B, T, D] -> [B, D, T] contiguous -> transposed back.
        Usage.Transposed => x + fc.call(x.transpose(1, 2).contiguous().transpose(1, 2)),
        Usage.Skipped => x,
        _ => throw new InvalidOperationException(Usage.ToString()),
    };
}
