using static TorchSharp.torch;

using Microsoft.Extensions.Logging;
using Lily.Injection;
using Lily.Tuners;

namespace Lily;

/// <summary>
/// Entry points: inject adapters into a TorchSharp model (<see cref="Create{TModel}"/>) or load saved
/// ones into it (<see cref="Load{TModel}"/>). The result, a <see cref="PeftModel{TModel}"/>, is a
/// handle on the same model object, now carrying adapters; keep calling the model as before.
/// </summary>
public static class PeftModel
{
    /// <summary>The weights file name PEFT uses (the same as <see cref="Serialization.AdapterWeightsFile.FileName"/>).</summary>
    public const string WeightsFileName = Serialization.AdapterWeightsFile.FileName;

    /// <summary>
    /// Freezes <paramref name="model"/> and attaches the config's adapter, named
    /// <see cref="PeftModel{TModel}.DefaultAdapterName"/>, to every Linear layer the config selects, in
    /// place. A layer whose parent can hold the adapter wrapper is replaced by it; any other layer (a
    /// field typed <c>Linear</c>, a plain list) keeps its place and gets a forward hook
    /// (<see cref="AdapterAttachment"/>). Adapter layers take the training mode of their layer.
    /// </summary>
    /// <typeparam name="TModel">The model's type, kept so <see cref="PeftModel{TModel}.Model"/> stays typed.</typeparam>
    /// <param name="model">Any TorchSharp module tree.</param>
    /// <param name="config">The method and its settings (a method's config, e.g. LoRA's or Lily's).</param>
    /// <param name="loggerFactory">Receives a summary of what was injected; nothing is logged in forward.</param>
    /// <param name="attachment">How adapters are attached; <see cref="AdapterAttachment.Auto"/> by default.</param>
    /// <exception cref="ArgumentException">The config is invalid, or no module matches it; the model is unchanged.</exception>
    public static PeftModel<TModel> Create<TModel>(TModel model, PeftConfig config, ILoggerFactory? loggerFactory = null,
        AdapterAttachment attachment = AdapterAttachment.Auto)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        if (ModuleTree.CarriesAdapters(model))
            throw new ArgumentException("The model already carries adapters; call Unload() on its PeftModel first, or AddAdapter() on it.", nameof(model));
        var peft = new PeftModel<TModel>(model, loggerFactory);
        peft.AddAdapter(PeftModel<TModel>.DefaultAdapterName, config, attachment);
        return peft;
    }

    /// <summary>Reads and validates the <c>adapter_config.json</c> in <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">The file is not there.</exception>
    /// <exception cref="InvalidDataException">The file cannot be read as a config; the message names the field.</exception>
    public static PeftConfig LoadConfig(string directory, ILogger? logger = null) => Serialization.AdapterFiles.ReadConfig(directory, logger);

    /// <summary>
    /// Injects the adapter saved in <paramref name="directory"/> (by this library or by Hugging Face
    /// PEFT) into <paramref name="model"/> and loads its weights. As PEFT's <c>from_pretrained</c>, the
    /// adapter is loaded for inference by default: frozen, model in eval mode, <c>inference_mode</c>
    /// true; pass <paramref name="isTrainable"/> to train it further. Both files are read and every
    /// key, shape and shared copy is checked before the weights are copied; after a failed load the
    /// model is exactly as before.
    /// </summary>
    /// <param name="model">A fresh copy of the base model the adapter was trained on.</param>
    /// <param name="directory">Holds <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>.</param>
    /// <param name="strict">Missing or unexpected tensors are errors (default). Mis-shaped tensors always are.</param>
    /// <param name="loggerFactory">Receives the injection summary and, when not strict, the keys that did not match.</param>
    /// <param name="isTrainable">Keep the adapter trainable (PEFT's <c>is_trainable</c>); false by default.</param>
    /// <param name="attachment">How adapters are attached; <see cref="AdapterAttachment.Auto"/> by default.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the adapter does not fit the model; the message names the keys.</exception>
    /// <exception cref="ArgumentException">The model already carries adapters.</exception>
    public static PeftModel<TModel> Load<TModel>(TModel model, string directory, bool strict = true,
        ILoggerFactory? loggerFactory = null, bool isTrainable = false, AdapterAttachment attachment = AdapterAttachment.Auto)
        where TModel : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        if (ModuleTree.CarriesAdapters(model))
            throw new ArgumentException("The model already carries adapters; call LoadAdapter() on its PeftModel to add another.", nameof(model));
        var peft = new PeftModel<TModel>(model, loggerFactory);
        peft.LoadAdapter(directory, PeftModel<TModel>.DefaultAdapterName, isTrainable, strict, attachment);
        return peft;
    }
}
