namespace Lily.Serialization;

/// <summary>How <c>adapter_model.safetensors</c> stores tensors that several layers share.</summary>
public enum AdapterLayout
{
    /// <summary>
    /// Hugging Face PEFT's layout: every layer's keys, each shared tensor written once per layer
    /// that uses it. Any PEFT version that knows the method reads it. The default.
    /// </summary>
    Peft,

    /// <summary>
    /// PEFT's keys and shapes, but each shared tensor (Lily's A and B pool) stored once, under the
    /// first layer that uses it; the metadata maps every omitted key to the stored one. For Lily
    /// with the default stride this is several times smaller (see docs/saving.md for an example).
    /// </summary>
    Compact,
}
