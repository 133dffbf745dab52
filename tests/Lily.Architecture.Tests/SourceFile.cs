using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Lily.Architecture.Tests;

/// <summary>A name a file uses where a type could stand, with its line (1-based), for messages.</summary>
public sealed record NameUse(string Name, int Line);

/// <summary>
/// One C# file of a project under <c>src/</c>, read from its syntax alone: where it lives, what types it
/// declares at namespace level, which names it uses, and the namespaces it declares.
/// </summary>
public sealed record SourceFile(
    string Path, string Project, IReadOnlyList<string> Folders,
    IReadOnlyList<string> DeclaredTypes, IReadOnlyList<NameUse> Uses, IReadOnlyList<string> Namespaces)
{
    /// <summary>Parses <paramref name="text"/> as the file at <paramref name="path"/> (<c>src/Project/A/B/File.cs</c>).</summary>
    public static SourceFile Parse(string path, string text)
    {
        var parts = path.Replace('\\', '/').Split('/');
        if (parts.Length < 3 || parts[0] != "src")
            throw new ArgumentException($"'{path}' is not a path of the form src/<project>/.../<file>.cs.", nameof(path));
        var root = CSharpSyntaxTree.ParseText(text, path: path).GetCompilationUnitRoot();

        // Namespace-level types only: a nested type is reached through its outer type, and nested
        // names (Entry, Target, ...) repeat across files without meaning the same thing.
        var declared = root.DescendantNodes()
            .Where(n => n.Parent is BaseNamespaceDeclarationSyntax or CompilationUnitSyntax)
            .Select(n => n switch
            {
                BaseTypeDeclarationSyntax t => t.Identifier.ValueText,
                DelegateDeclarationSyntax d => d.Identifier.ValueText,
                _ => null,
            })
            .OfType<string>().Distinct().ToList();

        // Doc comments are trivia and are not visited: a <see cref> is a pointer for the reader, not a dependency.
        var uses = root.DescendantNodes().OfType<SimpleNameSyntax>()
            .Where(n => !IsMemberName(n))
            .Select(n => new NameUse(n.Identifier.ValueText, n.GetLocation().GetLineSpan().StartLinePosition.Line + 1))
            .ToList();

        var namespaces = root.DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>()
            .Select(n => n.Name.ToString()).ToList();
        return new SourceFile(path, parts[1], parts[2..^1], declared, uses, namespaces);
    }

    // `x.Name` and `new T { Name = ... }` name a member, not a type (`Lily.Name` would too, but the
    // library's code writes type names unqualified and a `using` brings the namespace).
    private static bool IsMemberName(SimpleNameSyntax n) =>
        n.Parent is MemberAccessExpressionSyntax ma && ma.Name == n
        || n.Parent is MemberBindingExpressionSyntax
        || n.Parent is NameColonSyntax
        || n.Parent is AssignmentExpressionSyntax { Parent: InitializerExpressionSyntax } a && a.Left == n;
}
