using static TorchSharp.torch;

namespace Lily.Tuners;

/// <summary>
/// A variant of LoRA's layer (PEFT's <c>LoraVariant</c>): a <see cref="LoraLinear"/> with a variant calls it
/// at every point where the variant computes something other than plain LoRA, instead of branching on a
/// flag there. A plain LoRA layer has none. DoRA is the one variant (<see cref="DoraLinearVariant"/>).
/// </summary>
/// <remarks>Bound to one layer, which creates it once its factors exist.</remarks>
internal abstract class LoraVariant
{
    /// <summary>The update rows <c>[N, d_out]</c> for input <paramref name="x"/>; <paramref name="baseRows"/> are the base layer's output rows when known.</summary>
    public abstract Tensor Delta(Tensor x, Tensor? baseRows);

    /// <summary>Adds the update for <paramref name="x"/> to <paramref name="result"/> (the base output rows) and returns the sum (in place where it can be).</summary>
    public abstract Tensor AddDelta(Tensor result, Tensor x);

    /// <summary>Merges the update into the base weight <paramref name="weight"/> in place.</summary>
    public abstract void MergeInto(Tensor weight);

    /// <summary>Undoes <see cref="MergeInto"/> on <paramref name="weight"/> in place.</summary>
    public abstract void UnmergeFrom(Tensor weight);

    /// <summary>
    /// Why the layer's update cannot be given as LoRA factors (<see cref="AdapterLinear.UpdateFactors"/>), or null
    /// when it can: the variant's update is then still <c>scaling · B A</c>.
    /// </summary>
    public abstract string? NoFactorsReason { get; }

    /// <summary>The key a parameter of the layer has in the adapter file (see <see cref="AdapterLinear.FileKeyOf"/>); the name itself by default.</summary>
    public virtual string FileKeyOf(string parameterName) => parameterName;
}
