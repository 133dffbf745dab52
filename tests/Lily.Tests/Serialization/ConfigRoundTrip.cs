using Lily.Serialization;
using Lily.Tuners;

namespace Lily.Tests.Serialization;

/// <summary>Writes a config as adapter_config.json and reads it back, checking nothing was lost.</summary>
internal static class ConfigRoundTrip
{
    /// <summary>The config read back from its own JSON; asserts it equals the original and writes the same text again.</summary>
    public static T Of<T>(T config) where T : PeftConfig
    {
        string json = Lily.Serialization.AdapterConfigFile.ToJson(config);
        var back = Lily.Serialization.AdapterConfigFile.FromJson(json).Should().BeOfType<T>().Subject;
        back.Should().BeEquivalentTo(config, o => o.ComparingByMembers<T>());
        Lily.Serialization.AdapterConfigFile.ToJson(back).Should().Be(json, "writing what was read gives the same text");
        return back;
    }
}
