namespace Lily.Serialization;

/// <summary>
/// The adapter weights file, <c>adapter_model.safetensors</c>. Its name lives here, with the code that
/// writes and reads it, so that serialization needs nothing from the model layer above it.
/// </summary>
public static class AdapterWeightsFile
{
    /// <summary>The file name PEFT uses.</summary>
    public const string FileName = "adapter_model.safetensors";
}
