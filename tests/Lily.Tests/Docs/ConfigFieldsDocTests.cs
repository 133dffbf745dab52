using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Text;
using System.Xml.Linq;
using Lily.Serialization;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Docs;

/// <summary>
/// docs/config-fields.md is generated from the field declarations (<see cref="ConfigFields{TConfig}"/> tables and
/// <see cref="SharedConfigFields"/>): each field's name, property, the value a default config writes, and the
/// property's own XML summary. Nothing in it is written by hand, so it cannot disagree with the code. To
/// regenerate it after changing a declaration, run this test with LILY_WRITE_DOCS=1.
/// </summary>
public class ConfigFieldsDocTests
{
    private const string Document = "docs/config-fields.md";

    [Fact]
    public void The_field_reference_is_generated_from_the_declarations()
    {
        string path = Path.Combine(RepositoryPaths.Root(), Document);
        string generated = Generate();
        if (Environment.GetEnvironmentVariable("LILY_WRITE_DOCS") == "1") File.WriteAllText(path, generated);

        File.ReadAllText(path).ReplaceLineEndings("\n").Should().Be(generated, $"{Document} is generated; run this test with LILY_WRITE_DOCS=1 to update it");
    }

    private static string Generate()
    {
        var docs = XDocument.Load(Path.ChangeExtension(typeof(PeftConfig).Assembly.Location, ".xml"));
        var sb = new StringBuilder();
        sb.Append("""
            # adapter_config.json fields

            Generated from the field declarations (`ConfigFields<TConfig>` tables in each method's config, `SharedConfigFields`
            for the fields every method shares) by `ConfigFieldsDocTests`; do not edit by hand. *Written by default* is what a
            config with every property at its default writes; a field absent from a file reads as that default. *Meaning* is
            the property's documentation.

            """);
        Section(sb, docs, "Shared by every method", SharedConfigFields.All, new LoraConfig { TargetModules = ["q_proj"] }, typeof(PeftConfig));
        Section(sb, docs, $"LoRA (`peft_type` `\"{LoraConfig.Type}\"`)", LoraConfig.Fields.All, new LoraConfig { TargetModules = ["q_proj"] }, typeof(LoraConfig));
        Section(sb, docs, $"Lily (`peft_type` `\"{LilyConfig.Type}\"`)", LilyConfig.Fields.All, new LilyConfig { TargetModules = ["q_proj"] }, typeof(LilyConfig));
        Section(sb, docs, $"CLoRA (`peft_type` `\"{CLoraConfig.Type}\"`)", CLoraConfig.Fields.All, new CLoraConfig { TargetModules = ["q_proj"] }, typeof(CLoraConfig));
        return sb.ToString().ReplaceLineEndings("\n");
    }

    private static void Section(StringBuilder sb, XDocument docs, string title, IReadOnlyList<ConfigField> fields, PeftConfig defaults, Type type)
    {
        var written = JsonNode.Parse(AdapterConfigFile.ToJson(defaults))!.AsObject();
        sb.Append($"\n## {title}\n\n| field | property | written by default | meaning |\n|---|---|---|---|\n");
        foreach (var field in fields.Where(f => f.Property is not null))
        {
            string value = written.TryGetPropertyValue(field.Name, out var node) ? $"`{node?.ToJsonString() ?? "null"}`" : "(not written)";
            sb.Append($"| `{field.Name}` | `{field.Property}` | {value} | {Summary(docs, $"P:{type.FullName}.{field.Property}")} |\n");
        }
        var others = fields.Where(f => f.Property is null).GroupBy(f => f.Note).ToList();
        if (others.Count == 0) return;
        sb.Append('\n');
        foreach (var group in others)
            sb.Append($"- {string.Join(", ", group.Select(f => $"`{f.Name}`"))}: {group.Key}.\n");
    }

    // The member's <summary> on one line, its XML turned into Markdown.
    private static string Summary(XDocument docs, string member)
    {
        var summary = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == member).Element("summary")!;
        string text = string.Concat(summary.Nodes().Select(n => n.ToString()));
        text = Regex.Replace(text, @"<c>(.*?)</c>", m => $"`{System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)}`", RegexOptions.Singleline);
        text = Regex.Replace(text, @"<see cref=""\w:([^""]+)""\s*/>", m => $"`{Regex.Replace(m.Groups[1].Value, @"\(.*\)$|`\d+", "").Split('.')[^1]}`");
        text = Regex.Replace(text, @"<see langword=""(\w+)""\s*/>", "`$1`");
        text = Regex.Replace(text, @"<[^>]+>", "");
        text = System.Net.WebUtility.HtmlDecode(Regex.Replace(text, @"\s+", " ").Trim());
        return text.Replace("|", "\\|");
    }
}
