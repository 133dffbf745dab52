using System.Text.Json.Nodes;
using Lily.Serialization;

namespace Lily;

/// <summary>Reads LoRA's own fields of <c>adapter_config.json</c> (registered as <c>"LORA"</c> in <see cref="PeftMethods"/>).</summary>
internal static class LoraConfigFields
{
    /// <summary>Builds a <see cref="LoraConfig"/> from PEFT's LoRA fields; absent fields take PEFT's defaults.</summary>
    public static PeftConfig Read(ConfigFieldReader f)
    {
        if (f.String("bias") is string bias && bias != "none")
            throw new InvalidDataException($"{f.Source}: bias '{bias}' is not supported (only \"none\").");
        // Options that change the computation or the weights' layout: refusing beats a silently different model.
        f.RejectTrue("fan_in_fan_out", "lora_bias", "use_qalora");
        f.RejectNonEmpty("layer_replication", "target_parameters", "trainable_token_indices",
            "alora_invocation_tokens", "arrow_config", "use_bdlora", "monteclora_config", "kasa_config");
        // Settings of initialisations we reject through init_lora_weights, of Megatron layers, of QALoRA
        // (rejected above) or of save-time behaviour: they cannot change what this library computes.
        f.Ignore("loftq_config", "corda_config", "eva_config", "lora_ga_config", "megatron_config", "megatron_core",
            "qalora_group_size", "ensure_weight_tying", "velora_config");
        var init = f.Node("init_lora_weights") switch
        {
            null => LoraInit.KaimingUniform,
            JsonValue v when v.TryGetValue(out bool b) => b ? LoraInit.KaimingUniform : LoraInit.Random,
            JsonValue v when v.TryGetValue(out string? s) && s == "gaussian" => LoraInit.Gaussian,
            var other => throw new InvalidDataException($"{f.Source}: init_lora_weights {other.ToJsonString()} is not supported (true, false or \"gaussian\")."),
        };
        return new LoraConfig
        {
            R = f.Int("r") ?? 8,
            LoraAlpha = f.Double("lora_alpha") ?? 8,
            LoraDropout = f.Double("lora_dropout") ?? 0,
            UseRsLora = f.Bool("use_rslora") ?? false,
            UseDora = f.Bool("use_dora") ?? false,
            InitLoraWeights = init,
            RankPattern = LoraPatternFields.ReadRanks(f),
            AlphaPattern = LoraPatternFields.ReadAlphas(f),
        };
    }
}
