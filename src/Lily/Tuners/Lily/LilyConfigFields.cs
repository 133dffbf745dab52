using Lily.Serialization;

namespace Lily;

/// <summary>Reads Lily's own fields of <c>adapter_config.json</c> (registered as <c>"LILY"</c> in <see cref="PeftMethods"/>).</summary>
internal static class LilyConfigFields
{
    /// <summary>Our one field PEFT does not have: Lily's routing mode, written only when it is not PEFT's.</summary>
    public const string RoutingField = "lily_routing";

    /// <summary>Builds a <see cref="LilyConfig"/> from PEFT's Lily fields; absent fields take PEFT's defaults.</summary>
    public static PeftConfig Read(ConfigFieldReader f)
    {
        var routing = LilyRouting.BatchMean;
        if (f.String(RoutingField) is string text && !Enum.TryParse(text, out routing))
            throw new InvalidDataException($"{f.Source}: {RoutingField} '{text}' is not one of {string.Join(", ", Enum.GetNames<LilyRouting>())}.");
        return new LilyConfig
        {
            R = f.Int("r") ?? 32,
            StrideA = f.Int("stride_A") ?? 1,
            NumB = f.Int("num_B") ?? 2,
            Scaling = f.Double("scaling") ?? 1.0,
            InitWeights = f.Bool("init_weights") ?? true,
            Routing = routing,
        };
    }
}
