namespace Lily.Architecture.Tests;

/// <summary>
/// The rules run on small made-up trees: each rule must report a breach planted in them, so a rule that
/// silently finds nothing (a wrong path, a parser that sees no names) fails here rather than passing below.
/// </summary>
public class LayoutRuleTests
{
    private static SourceTree Tree(params (string Path, string Text)[] files) =>
        new(files.Select(f => SourceFile.Parse(f.Path, f.Text)));

    private const string Method = "namespace Lily.Tuners; public sealed class FooLinear : AdapterLinear { }";
    private const string Shared = "namespace Lily.Tuners; public abstract class AdapterLinear { }";

    [Fact]
    public void A_shared_folder_naming_a_method_type_is_reported_with_file_line_and_type()
    {
        var tree = Tree(
            ("src/Lily/Tuners/Foo/FooLinear.cs", Method),
            ("src/Lily/Tuners/AdapterLinear.cs", Shared),
            ("src/Lily/Analysis/Report.cs", "namespace Lily.Analysis;\nstatic class Report {\n static int N(object o) => o is FooLinear ? 1 : 0; }"));

        tree.MethodTypesNamedOutsideTheirFolder([]).Should().Equal("src/Lily/Analysis/Report.cs:3 names FooLinear (Lily/Tuners/Foo)");
        tree.MethodTypesNamedOutsideTheirFolder(["src/Lily/Analysis/Report.cs"]).Should().BeEmpty("a registration file may list the methods");
    }

    [Fact]
    public void Another_method_naming_a_method_type_is_reported_but_its_own_folder_and_doc_comments_are_not()
    {
        var tree = Tree(
            ("src/Lily/Tuners/Foo/FooLinear.cs", Method),
            ("src/Lily/Tuners/Foo/FooBuilder.cs", "namespace Lily.Tuners; sealed class FooBuilder { FooLinear? l; }"),
            ("src/Lily/Tuners/Bar/BarLinear.cs", "namespace Lily.Tuners;\n/// <summary>Like <see cref=\"FooLinear\"/>.</summary>\nsealed class BarLinear { object M() => typeof(FooLinear); }"));

        tree.MethodTypesNamedOutsideTheirFolder([]).Should().Equal("src/Lily/Tuners/Bar/BarLinear.cs:3 names FooLinear (Lily/Tuners/Foo)");
    }

    [Fact]
    public void Member_names_that_equal_a_method_type_are_not_uses_of_it()
    {
        var tree = Tree(
            ("src/Lily/Tuners/Foo/FooLinear.cs", Method),
            ("src/Lily/Deploy/D.cs", "namespace Lily.Deploy; static class D { static object M(dynamic x) => new { FooLinear = 1, y = x.FooLinear, z = x?.FooLinear }; static void N(int FooLinear) => N(FooLinear: 2); }"));

        // `new { FooLinear = 1 }` is an anonymous member; the parameter `FooLinear` is a use of a name
        // that happens to equal a type's, and is reported: the rule errs on the side of saying too much.
        tree.MethodTypesNamedOutsideTheirFolder([]).Should().ContainSingle().Which.Should().Contain("D.cs:1 names FooLinear");
    }

    [Fact]
    public void A_cycle_between_two_folders_is_found_and_a_one_way_dependency_is_not()
    {
        var oneWay = Tree(
            ("src/Lily/Analysis/A.cs", "namespace Lily.Analysis; class A { }"),
            ("src/Lily/Deploy/D.cs", "namespace Lily.Deploy; class D { A? a; }"));
        oneWay.AreaCycles().Should().BeEmpty();
        oneWay.AreaDependencies()["Lily/Deploy"].Keys.Should().Equal("Lily/Analysis");

        var cycle = Tree(
            ("src/Lily/Analysis/A.cs", "namespace Lily.Analysis; class A { D? d; }"),
            ("src/Lily/Deploy/D.cs", "namespace Lily.Deploy; class D { A? a; }"),
            ("src/Lily/Serialization/S.cs", "namespace Lily.Serialization; class S { A? a; }"));
        cycle.AreaCycles().Should().ContainSingle().Which.Should().Equal("Lily/Analysis", "Lily/Deploy");
    }

    [Fact]
    public void A_namespace_that_does_not_follow_the_folder_is_reported()
    {
        var tree = Tree(
            ("src/Lily/PeftModel.cs", "namespace Lily; class PeftModel { }"),
            ("src/Lily/Tuners/Foo/FooLinear.cs", "namespace Lily.Tuners; class FooLinear { }"),
            ("src/Lily.Bert/Modeling/BertModel.cs", "namespace Lily.Bert.Modeling; class BertModel { }"),
            ("src/Lily/Deploy/D.cs", "namespace Lily; class D { }"),
            ("src/Lily/Deploy/E.cs", "class E { }"));

        tree.NamespaceBreaches().Should().Equal(
            "src/Lily/Deploy/D.cs: declares Lily, expected Lily.Deploy",
            "src/Lily/Deploy/E.cs: declares no namespace, expected Lily.Deploy");
    }
}
