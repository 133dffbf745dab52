namespace Lily.Tuners;

/// <summary>Which CLoRA layers share one set of base spaces D and U.</summary>
public enum CLoraSharing
{
    /// <summary>
    /// Layers of one target type and weight shape (the <c>target_modules</c> entry that matched, as
    /// Lily groups): all q_proj layers share one set, all v_proj layers another. The default.
    /// </summary>
    TargetType,

    /// <summary>Every adapted layer of one weight shape <c>[d_out, d_in]</c>, whatever target chose it.</summary>
    Shape,
}
