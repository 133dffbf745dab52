namespace Lily.Architecture.Tests;

/// <summary>
/// The library's source files and the rules of docs/building.md's layout, computed from them. The rules
/// take the files as values, so a test can also run them on made-up files and see each rule fail.
/// </summary>
public sealed class SourceTree
{
    /// <summary>The folder whose subfolders are methods: one folder per method (PEFT's <c>tuners/&lt;method&gt;</c>).</summary>
    public const string MethodsFolder = "Tuners";

    /// <summary>Creates the tree from parsed files.</summary>
    public SourceTree(IEnumerable<SourceFile> files) => Files = files.ToList();

    /// <summary>Every file.</summary>
    public IReadOnlyList<SourceFile> Files { get; }

    /// <summary>Reads every <c>.cs</c> file under <c>src/</c> of the repository at <paramref name="repositoryRoot"/>.</summary>
    public static SourceTree Load(string repositoryRoot)
    {
        var src = Path.Combine(repositoryRoot, "src");
        var files = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(repositoryRoot, p).Replace('\\', '/'))
            .Where(p => !p.Split('/').Any(part => part is "bin" or "obj"))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => SourceFile.Parse(p, File.ReadAllText(Path.Combine(repositoryRoot, p))));
        return new SourceTree(files);
    }

    /// <summary>
    /// The area a file belongs to: <c>Project</c> for files at the project's root, <c>Project/Folder</c>
    /// for the first folder level, and <c>Project/Tuners/Method</c> inside a method's folder.
    /// </summary>
    public static string AreaOf(SourceFile f) =>
        f.Folders.Count == 0 ? f.Project
        : f.Folders[0] == MethodsFolder && f.Folders.Count > 1 ? $"{f.Project}/{MethodsFolder}/{f.Folders[1]}"
        : $"{f.Project}/{f.Folders[0]}";

    /// <summary>True for areas that are one method's folder.</summary>
    public static bool IsMethodArea(string area) => area.Split('/') is [_, MethodsFolder, _];

    /// <summary>Which areas declare each namespace-level type name.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> TypeAreas() =>
        Files.SelectMany(f => f.DeclaredTypes.Select(t => (t, area: AreaOf(f))))
            .GroupBy(x => x.t)
            .ToDictionary(g => g.Key, g => (IReadOnlySet<string>)g.Select(x => x.area).ToHashSet());

    /// <summary>
    /// Uses of one method's types outside that method's folder, except in <paramref name="registrationFiles"/>
    /// (the one place that lists the built-in methods). Each as "file:line names Type (Area)".
    /// </summary>
    public IReadOnlyList<string> MethodTypesNamedOutsideTheirFolder(IEnumerable<string> registrationFiles)
    {
        var allowed = registrationFiles.ToHashSet(StringComparer.Ordinal);
        var methodTypes = TypeAreas()
            .Where(kv => kv.Value.Count == 1 && IsMethodArea(kv.Value.First()))
            .ToDictionary(kv => kv.Key, kv => kv.Value.First());
        return Files.Where(f => !allowed.Contains(f.Path))
            .SelectMany(f => f.Uses
                .Where(u => methodTypes.TryGetValue(u.Name, out var area) && area != AreaOf(f))
                .Select(u => $"{f.Path}:{u.Line} names {u.Name} ({methodTypes[u.Name]})"))
            .Distinct().ToList();
    }

    /// <summary>
    /// The area graph: an edge from A to B when a file in A names a type declared only in B, with the
    /// names that make the edge. Types declared in more than one area are left out: the syntax alone
    /// cannot tell which one is meant.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlySet<string>>> AreaDependencies()
    {
        var unique = TypeAreas().Where(kv => kv.Value.Count == 1).ToDictionary(kv => kv.Key, kv => kv.Value.First());
        var graph = new Dictionary<string, Dictionary<string, HashSet<string>>>();
        foreach (var f in Files)
        {
            var from = AreaOf(f);
            if (!graph.TryGetValue(from, out var edges)) graph[from] = edges = new();
            foreach (var u in f.Uses)
                if (unique.TryGetValue(u.Name, out var to) && to != from)
                {
                    if (!edges.TryGetValue(to, out var names)) edges[to] = names = new();
                    names.Add(u.Name);
                }
        }
        return graph.ToDictionary(kv => kv.Key,
            kv => (IReadOnlyDictionary<string, IReadOnlySet<string>>)kv.Value.ToDictionary(e => e.Key, e => (IReadOnlySet<string>)e.Value));
    }

    /// <summary>Every set of two or more areas that reach each other (strongly connected components).</summary>
    public IReadOnlyList<IReadOnlyList<string>> AreaCycles()
    {
        var graph = AreaDependencies();
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var cycles = new List<IReadOnlyList<string>>();
        var next = 0;

        void Visit(string v)
        {
            index[v] = low[v] = next++;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in graph.TryGetValue(v, out var e) ? e.Keys.OrderBy(k => k, StringComparer.Ordinal) : Enumerable.Empty<string>())
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            if (component.Count > 1) cycles.Add(component.OrderBy(c => c, StringComparer.Ordinal).ToList());
        }

        foreach (var v in graph.Keys.OrderBy(k => k, StringComparer.Ordinal))
            if (!index.ContainsKey(v)) Visit(v);
        return cycles;
    }

    /// <summary>
    /// The namespace rule: a file at a project's root declares the project's name (<c>Lily</c>,
    /// <c>Lily.Bert</c>); a file in a folder declares the project's name followed by the first folder
    /// (<c>Lily.Tuners</c>, also for the method folders below it). Each breach as "file: declares X, expected Y".
    /// </summary>
    public IReadOnlyList<string> NamespaceBreaches() =>
        Files.SelectMany(f =>
        {
            var expected = ExpectedNamespace(f);
            if (f.Namespaces.Count == 0) return new[] { $"{f.Path}: declares no namespace, expected {expected}" };
            return f.Namespaces.Where(n => n != expected).Select(n => $"{f.Path}: declares {n}, expected {expected}");
        }).ToList();

    /// <summary>The namespace the rule expects for a file.</summary>
    public static string ExpectedNamespace(SourceFile f) =>
        f.Folders.Count == 0 ? f.Project : $"{f.Project}.{f.Folders[0]}";
}
