using Lily.Injection;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// One method's trainable update for one Linear layer: <c>y = W x + b + Delta(x)</c>, with the input
/// cast to the adapter's dtype and the update cast back to the base output's dtype.
/// </summary>
/// <remarks>
/// The layer refers to its base Linear but does not own it: its registered children are only the
/// adapter's own modules (<c>lora_A</c>, <c>lora_B</c>, … — the names PEFT uses). Injection hangs
/// those children on the model under PEFT's paths (<c>q_proj.lora_A.default</c>), whether the
/// Linear is replaced by a wrapper or keeps its place and gets a forward hook; see
/// <see cref="AdapterSite"/>. <see cref="forward"/> computes base plus update directly, so the layer
/// also works on its own.
/// </remarks>
public abstract class AdapterLinear : nn.Module<Tensor, Tensor>
{
    // Held outside the module's registration on purpose: the base layer belongs to the model.
    private readonly BaseLayerReference baseLayer;

    /// <summary>Creates the layer for <paramref name="baseLayer"/>.</summary>
    /// <param name="name">The module's type name, e.g. <c>LoraLinear</c>.</param>
    /// <param name="baseLayer">The frozen Linear this layer adapts.</param>
    protected AdapterLinear(string name, Linear baseLayer) : base(name)
    {
        this.baseLayer = new BaseLayerReference(baseLayer ?? throw new ArgumentNullException(nameof(baseLayer)));
    }

    /// <summary>The adapted Linear layer, whose parameters stay frozen.</summary>
    public Linear BaseLayer => baseLayer.Layer;

    /// <summary>Input features of the base layer.</summary>
    public long InFeatures => BaseLayer.in_features;

    /// <summary>Output features of the base layer.</summary>
    public long OutFeatures => BaseLayer.out_features;

    /// <summary>True while the update is folded into the base weight (see <see cref="Merge"/>).</summary>
    public bool Merged { get; protected set; }

    /// <summary>The dtype of the adapter's own parameters.</summary>
    public abstract ScalarType AdapterDtype { get; }

    /// <summary>
    /// The rank the method gives the update (LoRA's and Lily's r, CLoRA's p·r), or null when it has no such
    /// rank. The update of a <c>[d_out, d_in]</c> layer has rank at most min(d_in, d_out), so a larger value
    /// only adds parameters: injection warns about it for every method (<see cref="PeftModel{TModel}.Warnings"/>).
    /// </summary>
    public virtual long? AllocatedRank => null;

    /// <summary>Whether the update is one fixed matrix now, so it can be folded into the base weight.</summary>
    public abstract bool CanMerge { get; }

    /// <summary>The update as a weight <c>[d_out, d_in]</c> in the adapter's dtype; called only while <see cref="CanMerge"/>.</summary>
    protected abstract Tensor MergeDelta();

    /// <summary>Why the update cannot be merged now; thrown by <see cref="Merge"/> while <see cref="CanMerge"/> is false.</summary>
    protected virtual NotSupportedException CannotMerge() =>
        new($"{GetName()} cannot be merged: its update depends on the input, so it is not one fixed matrix.");

    /// <summary>Base output plus update: the layer used on its own, outside a model.</summary>
    public override Tensor forward(Tensor input)
    {
        if (Merged) return BaseLayer.forward(input);
        using var scope = NewDisposeScope();
        // The base layer runs on the rows [N, d_in], so its output is a tensor of its own rather than
        // a view of one: the update can then be accumulated into it in place (by one GEMM, see
        // AddDelta) without a temporary of the output's size.
        var rows = BaseLayer.forward(input.reshape(-1, InFeatures));
        return AddUpdate(input, rows).view([.. input.shape[..^1], OutFeatures]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adds this adapter's update for <paramref name="input"/> (any shape <c>[..., d_in]</c>) into
    /// <paramref name="baseRows"/>, the base layer's output as rows <c>[N, d_out]</c>, in place, and
    /// returns it. Every attachment mode computes the adapted output through this one method.
    /// </summary>
    internal Tensor AddUpdate(Tensor input, Tensor baseRows)
    {
        // size(-1) rather than shape[^1]: TorchSharp's shape allocates an array on every read.
        if (input.dim() == 0 || input.size(-1) != InFeatures)
            throw new ArgumentException($"Expected an input whose last dimension is {InFeatures}, got shape [{string.Join(", ", input.shape)}].", nameof(input));
        var x = input.dtype == AdapterDtype ? input : input.to(AdapterDtype);
        return baseRows.dtype == AdapterDtype
            ? AddDelta(baseRows, x)
            : baseRows.add_(Delta(x, baseRows).reshape(-1, OutFeatures).to(baseRows.dtype));
    }

    /// <summary>The adapter's update for an input already cast to <see cref="AdapterDtype"/>, shaped <c>[..., d_out]</c>.</summary>
    protected abstract Tensor Delta(Tensor x);

    /// <summary>
    /// The update for <paramref name="x"/> when it may depend on the base output too: <paramref name="baseRows"/>
    /// is the base layer's output as rows <c>[N, d_out]</c> (bias included, in its own dtype), which the
    /// caller then adds the returned update to; it must not be modified here. The default is
    /// <see cref="Delta(Tensor)"/>; a method that rescales the base output (DoRA) overrides this.
    /// </summary>
    protected virtual Tensor Delta(Tensor x, Tensor baseRows) => Delta(x);

    /// <summary>
    /// Adds the update for <paramref name="x"/> (cast to <see cref="AdapterDtype"/>, in the caller's
    /// shape) into <paramref name="result"/>, the base output as rows <c>[N, d_out]</c> of the same
    /// dtype, and returns the sum. The default adds <see cref="Delta(Tensor, Tensor)"/> in place; a method whose
    /// update ends in a matrix product overrides this to fold product and sum into one <c>addmm_</c>.
    /// </summary>
    protected virtual Tensor AddDelta(Tensor result, Tensor x) => result.add_(Delta(x, result).reshape(-1, OutFeatures));

    /// <summary>
    /// <c>result += scaling · left · right</c> in place, as one <c>addmm_</c> when it can be exact. TorchSharp's
    /// <c>addmm_</c> takes its <c>alpha</c> as a float, so a float64 update whose scaling float32 cannot hold
    /// (8/3, 1.7) would be rounded by up to 6e-8 relative: off PEFT and off the merged weight by far more than
    /// float64's rounding. Then <paramref name="left"/> (the thin <c>[N, k]</c> factor) is multiplied by the
    /// scaling as a double first. Every method's fused path goes through here, so the rule lives once.
    /// </summary>
    protected static Tensor AddScaledProduct(Tensor result, Tensor left, Tensor right, double scaling)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(left);
        if (left.dtype != ScalarType.Float64 || (double)(float)scaling == scaling)
            return result.addmm_(left, right, beta: 1, alpha: (float)scaling);
        return result.addmm_(left.mul(scaling), right, beta: 1, alpha: 1);
    }

    /// <summary>Folds the update into the base weight, so forward costs what the base layer costs (a no-op when merged).</summary>
    /// <exception cref="NotSupportedException">The update depends on the input (<see cref="CanMerge"/> is false).</exception>
    public void Merge()
    {
        if (Merged) return;
        if (!CanMerge) throw CannotMerge();
        ChangeBaseWeight(MergeInto);
        Merged = true;
    }

    /// <summary>Takes a merged update out of the base weight again (up to float rounding; a no-op when not merged).</summary>
    public void Unmerge()
    {
        if (!Merged) return;
        ChangeBaseWeight(UnmergeFrom);
        Merged = false;
    }

    /// <summary>Folds the update into the base <paramref name="weight"/> in place: by default <c>W += </c><see cref="MergeDelta"/>.</summary>
    /// <param name="weight">The base layer's weight; called under <c>no_grad</c> in a dispose scope.</param>
    protected virtual void MergeInto(Tensor weight) => weight.add_(MergeDelta().to(weight.dtype, weight.device));

    /// <summary>Undoes <see cref="MergeInto"/> in place: by default <c>W -= </c><see cref="MergeDelta"/>.</summary>
    /// <param name="weight">The base layer's (merged) weight; called under <c>no_grad</c> in a dispose scope.</param>
    protected virtual void UnmergeFrom(Tensor weight) => weight.sub_(MergeDelta().to(weight.dtype, weight.device));

    private void ChangeBaseWeight(Action<Tensor> change)
    {
        using var scope = NewDisposeScope();
        using (no_grad()) change(BaseLayer.weight!);
    }

    /// <summary>
    /// The name parameter <paramref name="parameterName"/> (as <c>named_parameters()</c> names it, e.g.
    /// <c>lora_A.weight</c>) has in adapter files, after <c>base_model.model.&lt;path&gt;.</c>. The default
    /// is the name itself; a method whose file format names a parameter differently (DoRA's
    /// <c>lora_magnitude_vector</c>, saved without <c>.weight</c>) overrides this.
    /// </summary>
    protected internal virtual string FileKeyOf(string parameterName) => parameterName;

    /// <summary>
    /// The update as a fixed low-rank product <c>Scaling · B · A</c> (<c>[d_out, d_in]</c>) when it is
    /// one now, else null (the default: a method that declares no factors, or whose update depends on
    /// the input). Analysis (<see cref="Analysis.PeftInspection"/>) and export read ΔW through it.
    /// </summary>
    public virtual LowRankUpdate? UpdateFactors() => null;

    /// <summary>Why <see cref="UpdateFactors"/> is null now, for error messages: a method without factors says what its update is instead.</summary>
    public virtual string NoFactorsReason => "its update is not one fixed low-rank product now (its method declares no factors, or they depend on the input)";

    /// <summary>
    /// This layer's training terms beyond the task loss, already multiplied by their weights, as one
    /// scalar in <see cref="AdapterDtype"/> that records gradients; null (the default) when the method
    /// has none or their weights are zero. <see cref="PeftModel{TModel}.AuxiliaryLoss()"/> sums them over
    /// the active adapter's layers, passing every layer one <paramref name="context"/>: work on a tensor
    /// several layers share (e.g. a Gram of shared bases) goes through
    /// <see cref="AuxiliaryLossContext.Shared"/> and is done once per call.
    /// </summary>
    /// <param name="context">The call's memo of shared work; it lives as long as the call.</param>
    public virtual Tensor? AuxiliaryLoss(AuxiliaryLossContext context) => null;

    /// <summary>This layer's training terms alone (<see cref="AuxiliaryLoss(AuxiliaryLossContext)"/> with a context of its own).</summary>
    public Tensor? AuxiliaryLoss()
    {
        using var scope = NewDisposeScope();
        return AuxiliaryLoss(new AuxiliaryLossContext())?.MoveToOuterDisposeScope();
    }

    /// <summary>The adapter's own parameters (never the base layer's), each tensor once.</summary>
    public IEnumerable<Parameter> AdapterParameters() => parameters().Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter>();

    // Not a Module, so RegisterComponents leaves it alone.
    private sealed class BaseLayerReference(Linear layer)
    {
        public Linear Layer { get; } = layer;
    }
}
