using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// DoRA (weight-decomposed LoRA) as a variant of <see cref="LoraLinear"/>, PEFT's <c>DoraLinearVariant</c>. It owns
/// the magnitude vector (<see cref="DoraMagnitude"/>, registered by the layer as <c>lora_magnitude_vector</c>) and
/// computes, with <c>f = m / ‖W + s·B A‖</c> per output row (norm detached),
/// <c>y = W x + b + (f − 1) ⊙ W x + f ⊙ s·B (A x)</c>, i.e. <c>f ⊙ (W + s·B A) x + b</c> (the bias is not rescaled).
/// The base term <c>W x</c> is the base output minus its bias; while training with dropout it is recomputed as
/// <c>W dropout(x)</c>, the same dropped input the LoRA branch sees, as PEFT does.
/// </summary>
internal sealed class DoraLinearVariant : LoraVariant
{
    private readonly LoraLinear layer;
    // The row norms ‖W + s·B A‖ taken when DoRA was merged (PEFT caches them the same way): unmerging
    // must divide by the factor used to merge, which cannot be recomputed from the merged weight.
    // Not a registered buffer: set only while merged, outside every dispose scope.
    private Tensor? mergedNorms;

    /// <summary>PEFT's <c>DoraLinearVariant.init</c>: the magnitude starts at the row norms of <c>W + s·B A</c>.</summary>
    /// <param name="layer">The layer, its factors already initialised.</param>
    public DoraLinearVariant(LoraLinear layer)
    {
        this.layer = layer;
        using (no_grad())
        {
            using var scope = NewDisposeScope();
            Magnitude = new DoraMagnitude(DoraMagnitude.RowNorms(layer.BaseWeight(), layer.DeltaWeight()));
        }
    }

    /// <summary>The magnitude vector m, one trainable scale per output row.</summary>
    public DoraMagnitude Magnitude { get; }

    /// <inheritdoc />
    public override string NoFactorsReason =>
        "it is a DoRA layer: its update rescales whole rows of W, so it is not low-rank factors (merge it to see the weight)";

    /// <summary>PEFT saves DoRA's magnitude as <c>…lora_magnitude_vector</c>, without <c>.weight</c> (its files predate the module).</summary>
    public override string FileKeyOf(string parameterName) =>
        parameterName == MagnitudeParameter ? LoraLinear.MagnitudeModule : parameterName;

    private const string MagnitudeParameter = LoraLinear.MagnitudeModule + "." + DoraMagnitude.ParameterName;

    /// <inheritdoc />
    public override Tensor AddDelta(Tensor result, Tensor x) =>
        NeedsGraph(result, x) ? result.add_(Delta(x, result)) : AddInPlace(result, x);

    /// <summary>
    /// DoRA's update rows <c>[N, d_out]</c>: <c>(f − 1) ⊙ W x + f ⊙ s·B (A x)</c>, PEFT's <c>DoraLinearLayer.forward</c>.
    /// <c>W x</c> is <paramref name="baseRows"/> minus the bias when given and the dropout is off, else recomputed from the (dropped) input.
    /// </summary>
    public override Tensor Delta(Tensor x, Tensor? baseRows)
    {
        var w = layer.BaseWeight();
        Tensor delta;
        using (no_grad()) delta = layer.DeltaWeight();
        var factor = Magnitude.Factor(w, delta).unsqueeze(0);
        var dropout = layer.Dropout;
        bool dropping = dropout is Dropout && dropout.training;
        var input = (dropping ? dropout.forward(x) : x).reshape(-1, layer.InFeatures);
        Tensor baseTerm;
        if (baseRows is null || dropping)
            baseTerm = nn.functional.linear(input, w);
        else if (layer.BaseLayer.bias is { } bias)
            baseTerm = (baseRows - bias).to(layer.AdapterDtype);
        else
            baseTerm = baseRows.to(layer.AdapterDtype).clone();    // a copy: the caller adds into baseRows in place, and backward needs this term
        var lora = layer.LoraB.forward(layer.LoraA.forward(input));
        return ((factor - 1) * baseTerm).add_(factor * lora * layer.Scaling);
    }

    /// <summary><c>W = f ⊙ (W + s·B A)</c> with <c>f = m / ‖W + s·B A‖</c>, the norms kept for <see cref="UnmergeFrom"/>.</summary>
    public override void MergeInto(Tensor weight)
    {
        var w = weight.to(layer.AdapterDtype);
        var delta = layer.DeltaWeight();
        var norms = DoraMagnitude.RowNorms(w, delta);
        weight.copy_((Magnitude.Weight / norms).unsqueeze(1) * (w + delta));
        mergedNorms?.Dispose();
        mergedNorms = norms.DetachFromDisposeScope();
    }

    /// <summary><c>W = W / f − s·B A</c>, with the norms taken at merge time (PEFT's unmerge).</summary>
    public override void UnmergeFrom(Tensor weight)
    {
        var norms = mergedNorms ?? throw new InvalidOperationException("DoRA layer marked merged without the norms it was merged with.");
        var factor = Magnitude.Weight / norms.to(layer.AdapterDtype, weight.device);
        weight.copy_(weight.to(layer.AdapterDtype) / factor.unsqueeze(1) - layer.DeltaWeight());
        mergedNorms = null;
        norms.Dispose();
    }

    // True when autograd records this forward (something involved requires grad) or dropout acts:
    // then DoRA takes PEFT's out-of-place path, whose saved tensors stay intact.
    private bool NeedsGraph(Tensor result, Tensor x) =>
        (layer.Dropout is Dropout && layer.Dropout.training) ||
        (is_grad_enabled() && (result.requires_grad || x.requires_grad || layer.LoraA.weight!.requires_grad
                               || layer.LoraB.weight!.requires_grad || Magnitude.Weight.requires_grad));

    /// <summary>
    /// DoRA when nothing needs gradients (inference): the same value, <c>f ⊙ (W x + s·B A x) + b</c>, written into
    /// <paramref name="result"/> in place — one <c>addmm_</c> and two passes over the output instead of PEFT's five temporaries.
    /// </summary>
    private Tensor AddInPlace(Tensor result, Tensor x)
    {
        var factor = Magnitude.Factor(layer.BaseWeight(), layer.DeltaWeight());
        var bias = layer.BaseLayer.bias?.to(result.dtype);
        if (bias is not null) result.sub_(bias);
        var h = layer.LoraA.forward(x).reshape(-1, layer.Rank);
        layer.AddScaledLora(result, h, layer.LoraB.weight!.t().contiguous()).mul_(factor);
        return bias is null ? result : result.add_(bias);
    }
}
