namespace Lily.Bert.Conversion;

/// <summary>Lookups over an ONNX graph: initializers by name, the node producing a value, the nodes reading it, and constant folding of small shape computations.</summary>
internal sealed class GraphIndex
{
    private readonly Dictionary<string, OnnxNode> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<OnnxNode>> _consumers = new(StringComparer.Ordinal);
    private readonly string _source;

    public GraphIndex(OnnxGraph graph, string source)
    {
        _source = source;
        Nodes = graph.Nodes;
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (var initializer in graph.Initializers)
        {
            if (initializer.Name.Length == 0) throw new InvalidDataException($"{source}: an initializer has no name.");
            if (!initializers.TryAdd(initializer.Name, initializer))
                throw new InvalidDataException($"{source}: two initializers are named '{initializer.Name}'.");
        }
        Initializers = initializers;
        foreach (var node in graph.Nodes)
        {
            foreach (var output in node.Outputs.Where(o => o.Length > 0))
            {
                if (!_producers.TryAdd(output, node))
                    throw new InvalidDataException($"{source}: value '{output}' is produced by two nodes ('{_producers[output].Name}' and '{node.Name}').");
            }
            foreach (var input in node.Inputs.Where(i => i.Length > 0).Distinct())
            {
                if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                list.Add(node);
            }
        }
    }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    public OnnxNode? Producer(string value) => _producers.GetValueOrDefault(value);

    public IReadOnlyList<OnnxNode> ConsumersOf(string value) => _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>A float rank-2 initializer that must exist.</summary>
    public OnnxTensor Matrix(string name)
    {
        if (!Initializers.TryGetValue(name, out var tensor))
            throw new InvalidDataException($"{_source}: no initializer '{name}'; not a BERT export with Hugging Face names.");
        if (tensor.DataType != OnnxTensor.Float || tensor.Dims.Length != 2)
            throw new InvalidDataException($"{_source}: '{name}' is data_type {tensor.DataType} [{string.Join(", ", tensor.Dims)}], expected a FLOAT matrix.");
        return tensor;
    }

    /// <summary>
    /// <c>prefix</c> when the only reader of <paramref name="value"/> is an Add whose other input is the
    /// initializer <c>prefix.bias</c> (PyTorch exports <c>Linear</c> as MatMul then Add, bias on either side).
    /// </summary>
    public string? BiasPrefixOfConsumer(string value)
    {
        var consumers = ConsumersOf(value);
        if (consumers.Count != 1 || consumers[0] is not { OpType: "Add", Inputs.Count: 2 } add) return null;
        var other = add.Inputs[0] == value ? add.Inputs[1] : add.Inputs[0];
        return other.EndsWith(".bias", StringComparison.Ordinal) && Initializers.ContainsKey(other) ? other[..^".bias".Length] : null;
    }

    /// <summary>
    /// The integer vector a value holds when it is constant (an initializer, a Constant node, or a Concat of
    /// such pieces), with <see langword="null"/> for entries computed at run time from the input's shape
    /// (an Unsqueeze of a scalar, one entry); <see langword="null"/> when the length itself is unknown.
    /// </summary>
    public long?[]? ResolveInts(string value)
    {
        if (Initializers.TryGetValue(value, out var tensor))
            return tensor.DataType is OnnxTensor.Int64 or OnnxTensor.Int32 ? [.. tensor.ToInt64s().Select(v => (long?)v)] : null;
        var node = Producer(value);
        switch (node?.OpType)
        {
            case "Constant":
                if (node.Attribute("value")?.Tensor is { DataType: OnnxTensor.Int64 or OnnxTensor.Int32 } constant)
                    return [.. constant.ToInt64s().Select(v => (long?)v)];
                return node.Attribute("value_ints") is { } ints ? [.. ints.Ints.Select(v => (long?)v)] : null;
            case "Unsqueeze":
                // In these shape computations an Unsqueeze lifts a scalar dimension (read from Shape) to one entry.
                return [null];
            case "Concat":
                var parts = new List<long?>();
                foreach (var input in node.Inputs)
                {
                    if (ResolveInts(input) is not { } part) return null;
                    parts.AddRange(part);
                }
                return [.. parts];
            default:
                return null;
        }
    }

    /// <summary>The value of a float scalar constant (initializer or Constant node), else <see langword="null"/>.</summary>
    public float? ResolveFloatScalar(string value)
    {
        var tensor = Initializers.GetValueOrDefault(value) ?? Producer(value) switch
        {
            { OpType: "Constant" } node => node.Attribute("value")?.Tensor,
            _ => null,
        };
        return tensor is { DataType: OnnxTensor.Float, ElementCount: 1, IsExternal: false } ? tensor.ToFloats()[0] : null;
    }
}
