using System.Text.RegularExpressions;

namespace Lily.Architecture.Tests;

/// <summary>
/// The rules of docs/building.md's "Layout", on the real source tree: a method's types are named only in
/// its folder (and where the built-in methods are registered), folders depend on each other one way, and
/// namespaces follow folders. A change that breaks one fails here with the file and line.
/// </summary>
public class LayoutTests
{
    private static readonly Lazy<SourceTree> Tree = new(() => SourceTree.Load(RepositoryRoot.Path));

    /// <summary>The one file that lists the built-in methods, so that a configuration file can name them.</summary>
    public static readonly string[] RegistrationFiles = [];

    [Fact]
    public void The_source_tree_is_read()
    {
        // Guards the checks below against passing on an empty or misread tree.
        Tree.Value.Files.Should().Contain(f => f.Path == "src/Lily/PeftModel.cs");
        Tree.Value.Files.SelectMany(f => f.DeclaredTypes).Should().Contain(["PeftModel", "AdapterLinear", "LoraLinear", "LilyLinear"]);
        Tree.Value.Files.Where(f => SourceTree.IsMethodArea(SourceTree.AreaOf(f))).Select(SourceTree.AreaOf).Distinct()
            .Should().Contain(["Lily/Tuners/Lora", "Lily/Tuners/Lily", "Lily/Tuners/CLora"]);
    }

    [Fact]
    public void No_file_outside_a_method_folder_names_that_methods_types()
    {
        var uses = Tree.Value.MethodTypesNamedOutsideTheirFolder(RegistrationFiles);
        uses.Should().BeEmpty("shared code reaches a method through what AdapterLinear and its interfaces declare:\n" + string.Join("\n", uses));
    }

    [Fact]
    public void Folders_have_no_dependency_cycle()
    {
        var graph = Tree.Value.AreaDependencies();
        var cycles = Tree.Value.AreaCycles().Select(c =>
            string.Join(", ", c) + ": " + string.Join("; ", c.SelectMany(a =>
                graph.TryGetValue(a, out var e) ? e.Where(x => c.Contains(x.Key)).Select(x => $"{a} → {x.Key} ({string.Join(", ", x.Value.Order().Take(3))})") : []))).ToList();
        cycles.Should().BeEmpty("folders depend on each other one way:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void Namespaces_follow_folders()
    {
        var breaches = Tree.Value.NamespaceBreaches();
        breaches.Should().BeEmpty("a namespace is the project's name and the file's first folder:\n" + string.Join("\n", breaches));
    }

    [Fact]
    public void The_layout_table_in_the_docs_matches_the_tree()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "building.md"));
        var listed = Regex.Matches(doc, @"^\| `(src/[^`*]+?)/?` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        var folders = Tree.Value.Files.Select(f => f.Folders.Count == 0 ? $"src/{f.Project}"
            : SourceTree.IsMethodArea(SourceTree.AreaOf(f)) ? $"src/{SourceTree.AreaOf(f)}" : $"src/{f.Project}/{f.Folders[0]}").ToHashSet();

        listed.Should().NotBeEmpty();
        var missing = listed.Where(p => !Directory.Exists(Path.Combine(RepositoryRoot.Path, p))).ToList();
        missing.Should().BeEmpty("every folder the table lists exists: " + string.Join(", ", missing));
        // A project is listed by its own row, or by a row for each of its folders.
        var unlisted = folders.Where(f => !listed.Contains(f) && !listed.Contains(string.Join('/', f.Split('/').Take(2)))).ToList();
        unlisted.Should().BeEmpty("every folder of the library has a row in the table: " + string.Join(", ", unlisted));
    }
}
