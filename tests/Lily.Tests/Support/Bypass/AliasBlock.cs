using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>
/// A block whose layer <c>fc</c> sits in a field typed <c>Module&lt;Tensor, Tensor&gt;</c> (so it could be
/// replaced) but whose forward runs it through a second reference made in the constructor
/// (<see cref="AliasStyle"/>), with <c>call()</c> or <c>forward()</c>. A wrapper put in the field would
/// never run: x + fc(x).
/// </summary>
public sealed class AliasBlock : nn.Module<Tensor, Tensor>
{
    private static readonly ConditionalWeakTable<AliasBlock, nn.Module<Tensor, Tensor>> HiddenLayers = new();

#pragma warning disable IDE0052 // read through reflection by injection: the field that would be replaced
    private readonly nn.Module<Tensor, Tensor> fc;
#pragma warning restore IDE0052
    private readonly List<nn.Module<Tensor, Tensor>>? layers;
    private readonly Func<Tensor, Tensor>? run;
    private readonly LayerRecord? record;
    private readonly (nn.Module<Tensor, Tensor>? Layer, int Index) tuple;
    private readonly AliasStyle style;
    private readonly bool throughForward;

    /// <summary>Creates the block.</summary>
    public AliasBlock(long dim, AliasStyle style, bool throughForward) : base(nameof(AliasBlock))
    {
        this.style = style;
        this.throughForward = throughForward;
        var layer = nn.Linear(dim, dim);
        fc = layer;
        switch (style)
        {
            case AliasStyle.List: layers = [layer]; break;
            case AliasStyle.Delegate: run = throughForward ? layer.forward : layer.call; break;
            case AliasStyle.Closure: run = x => throughForward ? layer.forward(x) : layer.call(x); break;
            case AliasStyle.Record: record = new LayerRecord(layer, "fc"); break;
            case AliasStyle.Tuple: tuple = (layer, 0); break;
            case AliasStyle.Hidden: HiddenLayers.Add(this, layer); break;
        }
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        var layer = style switch
        {
            AliasStyle.List => layers![0],
            AliasStyle.Record => record!.Layer,
            AliasStyle.Tuple => tuple.Layer!,
            AliasStyle.Hidden => HiddenLayers.TryGetValue(this, out var l) ? l : throw new InvalidOperationException("no hidden layer"),
            _ => null,
        };
        var y = layer is null ? run!(x) : throughForward ? layer.forward(x) : layer.call(x);
        return x + y;
    }
}
