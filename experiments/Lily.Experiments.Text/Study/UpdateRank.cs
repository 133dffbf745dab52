using Lily.Analysis;
using Lily.TextClassification.Training;
using Lily.Tuners;
using static TorchSharp.torch;

namespace Lily.Experiments.Text;

/// <summary>
/// The mean effective rank of a trained adapter's ΔW over its layers, from the library's inspection: LoRA's and
/// CLoRA's from their factors exactly, Lily's at each layer's mean routing over the evaluation examples (its ΔW
/// depends on the input). DoRA declares no low-rank factors (its update rescales rows of W): NaN.
/// </summary>
public static class UpdateRank
{
    /// <summary>Mean effective rank over the active adapter's layers.</summary>
    public static double Mean<TModel>(PeftModel<TModel> peft, EncodedExamples data, int batchSize = 64) where TModel : nn.Module<Tensor, Tensor, Tensor>
    {
        if (peft.AdaptedModules.Any(m => m.Layer is not LilyLinear && m.Layer.UpdateFactors() is null)) return double.NaN;
        AdapterInspection inspection;
        if (peft.AdaptedModules.Any(m => m.Layer is LilyLinear))
        {
            var batches = data.BatchIndices(batchSize, shuffle: null);
            var routing = peft.CollectRouting(batches, (model, rows) =>
            {
                var (ids, mask, _) = data.Batch(rows);
                model.call(ids, mask);
            });
            inspection = peft.Inspect(routing);
        }
        else
        {
            inspection = peft.Inspect();
        }
        return inspection.Layers.Average(l => l.Spectrum.EffectiveRank);
    }
}
