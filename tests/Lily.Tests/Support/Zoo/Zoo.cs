using Lily.TestModels.Llama;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

/// <summary>
/// The model styles adapter injection must handle, as named factories with small dimensions (the Llama-style
/// decoder is shared/Lily.TestModels', which the benchmarks stack too). Each model takes
/// [batch, tokens, InputDim]; weights depend only on the seed the caller sets with <c>torch.manual_seed</c>.
/// </summary>
public static class Zoo
{
    /// <summary>Features of every style except the Llama decoder.</summary>
    public const long Dim = 8;

    /// <summary>Width inside the MLPs (fc1's output).</summary>
    public const long Hidden = 12;

    /// <summary>Blocks (or Linears, or q/v pairs) per model.</summary>
    public const int Depth = 2;

    /// <summary>Width of the Llama-style decoder.</summary>
    public const long LlamaHidden = 16;

    /// <summary>lm_head's output features in the Llama-style decoder.</summary>
    public const long LlamaVocab = 10;

    private static readonly IReadOnlyList<(string Name, Func<nn.Module<Tensor, Tensor>> Create, long InputDim)> styles =
    [
        ("LinearField", () => new LinearFieldModel(Dim, Hidden, Depth), Dim),
        ("ModuleField", () => new ModuleFieldModel(Dim, Hidden, Depth), Dim),
        ("ModuleList", () => new ModuleListModel(Dim, Hidden, Depth), Dim),
        ("ModuleListSubclass", () => new ModuleListSubclassModel(Dim, Depth), Dim),
        ("SequentialPositional", () => new SequentialModel(Dim, Hidden, Depth, named: false), Dim),
        ("SequentialNamed", () => new SequentialModel(Dim, Hidden, Depth, named: true), Dim),
        ("ModuleDict", () => new ModuleDictModel(Dim, Hidden, Depth), Dim),
        ("ListOfLinear", () => new ListOfLinearModel(Dim, Depth), Dim),
        ("LlamaStyle", CreateLlama, LlamaHidden),
    ];

    /// <summary>Every style (a–h; Sequential twice, positional and named), in that order.</summary>
    public static IReadOnlyList<(string Name, Func<nn.Module<Tensor, Tensor>> Create, long InputDim)> All() => styles;

    /// <summary>The style names, one per row, for xunit's MemberData.</summary>
    public static IEnumerable<object[]> Styles() => styles.Select(s => new object[] { s.Name });

    /// <summary>A new model of the style called <paramref name="name"/>.</summary>
    /// <param name="name">One of the names in <see cref="All"/>.</param>
    /// <exception cref="ArgumentException">No style has that name.</exception>
    public static nn.Module<Tensor, Tensor> Create(string name) => Find(name).Create();

    /// <summary>The last input dimension of the style called <paramref name="name"/>.</summary>
    /// <param name="name">One of the names in <see cref="All"/>.</param>
    public static long InputDim(string name) => Find(name).InputDim;

    /// <summary>The Llama-style decoder the zoo uses: 4 query heads sharing 2 key/value heads of 4 features, 2 layers.</summary>
    public static LlamaStyleDecoder CreateLlama() =>
        new(LlamaHidden, intermediate: 24, numHeads: 4, numKvHeads: 2, headDim: 4, numLayers: Depth, vocab: LlamaVocab);

    /// <summary>Style (i), kept out of <see cref="All"/>: q_proj runs through <c>forward</c>, so its hooks never fire.</summary>
    public static LinearFieldModel CreateDirectForward() => new(Dim, Hidden, Depth, qProjThroughForward: true);

    private static (string Name, Func<nn.Module<Tensor, Tensor>> Create, long InputDim) Find(string name)
    {
        foreach (var style in styles)
        {
            if (style.Name == name) return style;
        }
        throw new ArgumentException($"No zoo style '{name}'; known: {string.Join(", ", styles.Select(s => s.Name))}.", nameof(name));
    }
}
