using Lily.Serialization;

namespace Lily;

/// <summary>Reads CLoRA's own fields of <c>adapter_config.json</c> (registered as <c>"CLORA"</c> in <see cref="PeftMethods"/>).</summary>
internal static class CLoraConfigFields
{
    /// <summary>The field naming which layers share bases.</summary>
    public const string ShareByField = "share_by";

    private static readonly (CLoraSharing Value, string Text)[] Sharings = [(CLoraSharing.TargetType, "target"), (CLoraSharing.Shape, "shape")];

    /// <summary>The file's text for <paramref name="sharing"/>.</summary>
    public static string Write(CLoraSharing sharing) => Sharings.First(s => s.Value == sharing).Text;

    /// <summary>Builds a <see cref="CLoraConfig"/> from the file's fields; absent fields take the defaults.</summary>
    public static PeftConfig Read(ConfigFieldReader f)
    {
        var sharing = CLoraSharing.TargetType;
        if (f.String(ShareByField) is string text)
        {
            var match = Sharings.Where(s => s.Text == text).ToList();
            if (match.Count == 0) throw f.Error(ShareByField, $"is '{text}', not one of {string.Join(", ", Sharings.Select(s => $"\"{s.Text}\""))}");
            sharing = match[0].Value;
        }
        return new CLoraConfig
        {
            R = f.Int("r") ?? 8,
            NumBases = f.Int("num_bases") ?? 4,
            Scaling = f.Double("scaling") ?? 1.0,
            SadeWeight = f.Double("sade_weight") ?? 0,
            InitWeights = f.Bool("init_weights") ?? true,
            ShareBy = sharing,
        };
    }
}
