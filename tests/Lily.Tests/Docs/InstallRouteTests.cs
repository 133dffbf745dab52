using System.Text.RegularExpressions;
using Lily.Tests.Support;
using Lily.Tuners;

namespace Lily.Tests.Docs;

/// <summary>
/// CI runs the README's install route end to end with build/try-install-route.sh; this keeps the script running
/// the commands the README shows, so the two cannot drift apart.
/// </summary>
public class InstallRouteTests
{
    [Fact]
    public void The_install_script_runs_every_command_of_the_readmes_install_section()
    {
        var root = RepositoryPaths.Root();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var install = Regex.Match(readme, @"\n## Install\n(.*?)\n## ", RegexOptions.Singleline);
        install.Success.Should().BeTrue("the README has an Install section");
        var commands = Regex.Matches(install.Groups[1].Value, "```bash\n(.*?)```", RegexOptions.Singleline)
            .SelectMany(block => block.Groups[1].Value.Split('\n'))
            .Select(line => Regex.Replace(line, @"\s+#.*$", "").Trim())
            .Where(line => line.Length > 0)
            .Select(line => line.Replace("<clone>/artifacts/packages", "\"$feed\"", StringComparison.Ordinal))
            .ToList();
        commands.Should().Contain("bash build/pack.sh").And.Contain(c => c.StartsWith("dotnet add package Lily.TorchSharp", StringComparison.Ordinal));

        var script = File.ReadAllLines(Path.Combine(root, "build", "try-install-route.sh")).Select(l => Regex.Replace(l, @"\s+#.*$", "").Trim()).ToList();
        foreach (var command in commands)
            script.Should().Contain(line => line == command || line.Contains($"$({command}", StringComparison.Ordinal) || line.StartsWith(command + " ", StringComparison.Ordinal),
                $"build/try-install-route.sh must run the README's `{command}`");
    }
}
