using System.Reflection;
using Lily.Injection;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Lily.Tests.Injection;

/// <summary>
/// Version guard: src/Lily/Injection/ModuleTree.cs reads TorchSharp members that are not public API by
/// reflection. A TorchSharp upgrade that renames or retypes one of them must fail here, naming the version
/// and the member, rather than as a confusing cast or null error deep inside injection.
/// </summary>
public sealed class TorchSharpInternalsGuardTests
{
    private const BindingFlags Private = BindingFlags.Instance | BindingFlags.NonPublic;

    private static readonly string TorchSharpVersion =
        typeof(nn.Module).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(nn.Module).Assembly.GetName().Version?.ToString()
        ?? "(unknown version)";

    // No braces: FluentAssertions formats the reason as a composite format string.
    private static string Reason(string member, string expectation) =>
        $"Lily (src/Lily/Injection/ModuleTree.cs) reads {member} by reflection and needs {expectation}; " +
        $"TorchSharp {TorchSharpVersion} no longer matches, so module replacement must be revisited for this version";

    private static FieldInfo Field(Type type, string name, Type expectedType)
    {
        var member = $"{type.FullName}.{name}";
        var field = type.GetField(name, Private);
        field.Should().NotBeNull(Reason(member, "a non-public instance field"));
        field!.FieldType.Should().Be(expectedType, Reason(member, $"the field type {expectedType}"));
        return field;
    }

    private static void SettableIndexer(Type container, Type key, Type element)
    {
        var member = $"{container.Name}[{key.Name}]";
        var indexer = container.GetProperty("Item", [key]);
        indexer.Should().NotBeNull(Reason(member, $"a public indexer by {key.Name}"));
        indexer!.CanWrite.Should().BeTrue(Reason(member, "a setter"));
        indexer.PropertyType.Should().Be(element, Reason(member, $"an indexer of type {element.Name}"));
    }

    /// <summary>An ordinary module: its children are registered from its fields.</summary>
    private sealed class Parent : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> first = nn.Linear(2, 2);
        private readonly nn.Module<Tensor, Tensor> second = nn.Identity();

        public Parent() : base(nameof(Parent)) => RegisterComponents();

        public override Tensor forward(Tensor x) => second.call(first.call(x));
    }

    private static Linear ZeroLinear()
    {
        var zero = nn.Linear(2, 2);
        using (no_grad())
        {
            zero.weight!.zero_();
            zero.bias!.zero_();
        }
        return zero;
    }

    [Fact]
    public void Module_registration_is_an_ordered_dictionary_of_children()
    {
        var field = Field(typeof(nn.Module), "_internal_submodules", typeof(OrderedDict<string, nn.Module>));
        using var parent = new Parent();

        var registered = (OrderedDict<string, nn.Module>)field.GetValue(parent)!;

        registered.Keys.Should().Equal(["first", "second"],
            Reason("nn.Module._internal_submodules", "the registered children in order"));
    }

    [Fact]
    public void Sequential_keeps_its_forward_list_in_private_names_and_modules()
    {
        var names = Field(typeof(Sequential), "_names", typeof(List<string>));
        var modules = Field(typeof(Sequential), "_modules", typeof(List<nn.IModule<Tensor, Tensor>>));
        using var linear = nn.Linear(2, 3);
        using var sequential = nn.Sequential(("first", linear), ("second", nn.ReLU()));

        ((List<string>)names.GetValue(sequential)!).Should().Equal(["first", "second"], Reason("Sequential._names", "the child names"));
        ((List<nn.IModule<Tensor, Tensor>>)modules.GetValue(sequential)!)[0].Should().BeSameAs(linear,
            Reason("Sequential._modules", "the children that forward runs, in the order of _names"));
    }

    [Fact]
    public void ModuleList_and_ModuleDict_have_settable_indexers()
    {
        SettableIndexer(typeof(ModuleList<Linear>), typeof(int), typeof(Linear));
        SettableIndexer(typeof(ModuleDict<Linear>), typeof(string), typeof(Linear));
    }

    [Theory]
    [InlineData("module with fields")]
    [InlineData("Sequential")]
    public void ModuleTree_replacement_reaches_both_registration_and_forward(string kind)
    {
        using nn.Module<Tensor, Tensor> model = kind == "Sequential"
            ? nn.Sequential(("first", nn.Linear(2, 2)), ("second", nn.Identity()))
            : new Parent();
        using var zero = ZeroLinear();
        var registration = kind == "Sequential" ? "Sequential._names" : "nn.Module._internal_submodules";
        var forwardList = kind == "Sequential" ? "Sequential._modules" : "the parent's field";

        ModuleTree.ReplaceChild(model, "first", zero);

        model.named_children().First().module.Should().BeSameAs(zero, Reason(registration, "to be the live registration"));
        using var output = model.call(ones(1, 2));
        output.abs().sum().item<float>().Should().Be(0f, Reason(forwardList, "to be what forward runs"));
    }

    [Fact]
    public void Every_module_with_a_forward_offers_parameterless_hooks_with_a_remover()
    {
        // The forward-pass watcher (src/Lily/Injection/ForwardPassWatcher.cs) finds these by reflection on
        // the model's root, whatever its forward's signature, and calls the returned remover's remove().
        foreach (var type in new[] { typeof(Sequential), typeof(Parent) })
        {
            foreach (var name in new[] { "register_forward_pre_hook", "register_forward_hook" })
            {
                var member = $"{type.Name}.{name}(Action<Module>)";
                var method = type.GetMethod(name, [typeof(Action<nn.Module>)]);
                method.Should().NotBeNull(Reason(member, "a public method"));
                method!.ReturnType.GetMethod("remove", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes)
                    .Should().NotBeNull(Reason(member, "a returned object with remove()"));
            }
        }
    }

    [Fact]
    public void Linear_moves_only_its_own_tensors()
    {
        // Why hooked adapters need a DeviceFollower (src/Lily/Injection/DeviceFollower.cs): if TorchSharp's
        // Linear.to() starts moving its children, the follower is redundant (harmless) — this says so.
        var linear = nn.Linear(2, 2);
        var child = nn.Linear(2, 2);
        linear.register_module("child", child);
        linear.to(ScalarType.Float64);
        linear.weight!.dtype.Should().Be(ScalarType.Float64);
        child.weight!.dtype.Should().Be(ScalarType.Float32, $"TorchSharp {TorchSharpVersion}'s Linear._to does not recurse into children; if this changes, DeviceFollower can go");
    }
}
