namespace Lily.TextClassification.Methods;

/// <summary>Which Linear layers of the BERT encoder the PEFT methods adapt.</summary>
public static class TargetSet
{
    /// <summary>The query and value projections of every attention (LoRA's original choice).</summary>
    public const string QueryValue = "qv";

    /// <summary>Every Linear of every layer: query, key, value, attention output, intermediate and output dense.</summary>
    /// <remarks>
    /// The three <c>dense</c> layers of a BERT layer share a name but not a shape (384→384, 384→1536,
    /// 1536→384); Lily and CLoRA share only between layers of one target entry and one shape, so each is its
    /// own group. The encoder is built without its pooler (mean pooling), so <c>pooler.dense</c> is not matched.
    /// </remarks>
    public const string AllLinear = "all";

    /// <summary>The target module names of a set.</summary>
    public static IReadOnlyList<string> Modules(string set) => set switch
    {
        QueryValue => ["query", "value"],
        AllLinear => ["query", "key", "value", "dense"],
        _ => throw new ArgumentException($"Unknown target set '{set}'; known: {QueryValue}, {AllLinear}.", nameof(set)),
    };
}
