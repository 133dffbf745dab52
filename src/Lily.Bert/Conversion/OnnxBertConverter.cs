using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Lily.Bert.Modeling;
using Lily.Serialization;
using Lily.Tuners;

namespace Lily.Bert.Conversion;

/// <summary>
/// Converts an ONNX export of a BERT encoder (PyTorch's exporter, as in the SentenceTransformers packages) to a
/// Hugging Face checkpoint folder: <c>config.json</c> and <c>model.safetensors</c> with <c>transformers</c>' names.
/// </summary>
/// <remarks>
/// Embeddings, biases and LayerNorm parameters keep their Hugging Face names in the export. The Linear weights
/// do not: the exporter stores each as an anonymous <c>[in, out]</c> initializer multiplied by a <c>MatMul</c>.
/// Each is named from the graph, as <c>&lt;prefix&gt;.weight</c> where the <c>MatMul</c>'s output feeds an
/// <c>Add</c> with the initializer <c>&lt;prefix&gt;.bias</c>, and transposed to <c>[out, in]</c>. The config
/// comes from tensor shapes and from the graph (heads from the attention <c>Reshape</c>, the LayerNorm epsilon,
/// the activation). Every initializer must end up in the checkpoint or be a known non-weight (a shape constant,
/// the position-id buffer); anything else is refused rather than dropped. The output is deterministic.
/// </remarks>
public static class OnnxBertConverter
{
    /// <summary>The config file of a converted checkpoint.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file of a converted checkpoint.</summary>
    public const string WeightsFileName = "model.safetensors";

    private static readonly Regex LayerName = new(@"^encoder\.layer\.(\d+)\.", RegexOptions.CultureInvariant);

    // Operators that read an integer initializer as a shape, index or bound: such initializers are graph plumbing.
    private static readonly HashSet<string> ShapeOperators = new(StringComparer.Ordinal)
    {
        "Slice", "Concat", "Reshape", "Unsqueeze", "Squeeze", "Gather", "Expand", "Range", "ConstantOfShape",
    };

    /// <summary>Converts an ONNX file.</summary>
    /// <param name="onnxPath">The ONNX model (weights inside the file, not external data).</param>
    /// <param name="outputDirectory">Created if needed; <c>config.json</c> and <c>model.safetensors</c> are replaced.</param>
    /// <returns>The inferred config, as written.</returns>
    /// <exception cref="InvalidDataException">The file is malformed, or not a BERT export this converter understands; the message says what.</exception>
    public static BertConfig Convert(string onnxPath, string outputDirectory)
        => Convert(File.ReadAllBytes(onnxPath), outputDirectory, onnxPath);

    /// <summary>Converts an ONNX model held in memory.</summary>
    /// <param name="onnx">The model's bytes.</param>
    /// <param name="outputDirectory">Created if needed; <c>config.json</c> and <c>model.safetensors</c> are replaced.</param>
    /// <param name="source">Names the model in error messages (not written to the files, so they do not depend on it).</param>
    /// <returns>The inferred config, as written.</returns>
    /// <exception cref="InvalidDataException">The bytes are malformed, or not a BERT export this converter understands.</exception>
    public static BertConfig Convert(ReadOnlyMemory<byte> onnx, string outputDirectory, string source = "model.onnx")
    {
        var model = OnnxReader.Read(onnx, source);
        using var converted = Map(model, source);
        Directory.CreateDirectory(outputDirectory);
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = "pt",
            ["lily.converted_from"] = "onnx",
            ["lily.source_sha256"] = System.Convert.ToHexString(SHA256.HashData(onnx.Span)).ToLowerInvariant(),
            ["lily.onnx_producer"] = $"{model.ProducerName} {model.ProducerVersion}".Trim(),
        };
        SafeTensorsFile.Write(Path.Combine(outputDirectory, WeightsFileName), converted.Tensors, metadata);
        converted.Config.Save(Path.Combine(outputDirectory, ConfigFileName));
        return converted.Config;
    }

    /// <summary>Maps the graph's initializers to Hugging Face tensors and infers the config; writes nothing.</summary>
    internal static ConvertedBert Map(OnnxModel model, string source)
    {
        var graph = new GraphIndex(model.Graph, source);
        var config = InferConfig(graph, source, out var hasPooler);
        var expected = ExpectedShapes(config, hasPooler);

        var tensors = new SortedDictionary<string, torch.Tensor>(StringComparer.Ordinal);
        var sources = new SortedDictionary<string, (string, bool)>(StringComparer.Ordinal);
        var unused = new SortedDictionary<string, string>(StringComparer.Ordinal);
        try
        {
            // Linear weights: anonymous [in, out] initializers, named by the bias their MatMul's output is added to.
            foreach (var node in model.Graph.Nodes.Where(n => n.OpType == "MatMul"))
            {
                if (node.Inputs.Count != 2 || !graph.Initializers.TryGetValue(node.Inputs[1], out var weight)) continue;
                var prefix = graph.BiasPrefixOfConsumer(node.Outputs[0])
                    ?? throw new InvalidDataException($"{source}: MatMul '{node.Name}' multiplies by initializer '{weight.Name}' but its output does not feed an Add with a '<name>.bias' initializer, so the weight cannot be named.");
                var name = prefix + ".weight";
                if (!expected.ContainsKey(name))
                    throw new InvalidDataException($"{source}: MatMul '{node.Name}' gives initializer '{weight.Name}' the name '{name}', which is not a tensor of this BERT config.");
                if (sources.TryGetValue(name, out var earlier))
                    throw new InvalidDataException($"{source}: both '{earlier.Item1}' and '{weight.Name}' map to '{name}'.");
                if (weight.Dims.Length != 2)
                    throw new InvalidDataException($"{source}: initializer '{weight.Name}' for '{name}' has shape [{string.Join(", ", weight.Dims)}], expected a matrix.");
                tensors[name] = Transposed(weight);
                sources[name] = (weight.Name, true);
            }

            // Everything else that already carries its Hugging Face name is taken as stored.
            foreach (var initializer in model.Graph.Initializers)
            {
                if (!expected.ContainsKey(initializer.Name) || sources.ContainsKey(initializer.Name)) continue;
                foreach (var gemm in graph.ConsumersOf(initializer.Name).Where(n => n.OpType == "Gemm" && n.Inputs.Count > 1 && n.Inputs[1] == initializer.Name))
                {
                    // A Linear exported as Gemm keeps PyTorch's [out, in] weight only with transB = 1.
                    if (gemm.Attribute("transB")?.Int != 1)
                        throw new InvalidDataException($"{source}: Gemm '{gemm.Name}' uses '{initializer.Name}' without transB = 1; that layout is not supported.");
                }
                tensors[initializer.Name] = torch.tensor(initializer.ToFloats(), initializer.Dims);
                sources[initializer.Name] = (initializer.Name, false);
            }

            var used = new HashSet<string>(sources.Values.Select(s => s.Item1), StringComparer.Ordinal);
            foreach (var initializer in model.Graph.Initializers.Where(i => !used.Contains(i.Name)))
                unused[initializer.Name] = WhyUnused(initializer, graph, config, source);

            foreach (var (name, shape) in expected)
            {
                if (!tensors.TryGetValue(name, out var tensor))
                    throw new InvalidDataException($"{source}: the export has no tensor for '{name}'.");
                if (!tensor.shape.SequenceEqual(shape))
                    throw new InvalidDataException($"{source}: '{name}' (from '{sources[name].Item1}') has shape [{string.Join(", ", tensor.shape)}], expected [{string.Join(", ", shape)}].");
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
            throw;
        }
        return new ConvertedBert { Config = config, Tensors = tensors, Sources = sources, Unused = unused };
    }

    /// <summary>The Hugging Face <c>BertModel</c> state dict for a config: every name and shape, nothing else.</summary>
    internal static SortedDictionary<string, long[]> ExpectedShapes(BertConfig config, bool pooler)
    {
        long h = config.HiddenSize, f = config.IntermediateSize;
        var shapes = new SortedDictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = [config.VocabSize, h],
            ["embeddings.position_embeddings.weight"] = [config.MaxPositionEmbeddings, h],
            ["embeddings.token_type_embeddings.weight"] = [config.TypeVocabSize, h],
            ["embeddings.LayerNorm.weight"] = [h],
            ["embeddings.LayerNorm.bias"] = [h],
        };
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var p = $"encoder.layer.{i}.";
            foreach (var part in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                shapes[$"{p}{part}.weight"] = [h, h];
                shapes[$"{p}{part}.bias"] = [h];
            }
            shapes[$"{p}attention.output.LayerNorm.weight"] = [h];
            shapes[$"{p}attention.output.LayerNorm.bias"] = [h];
            shapes[$"{p}intermediate.dense.weight"] = [f, h];
            shapes[$"{p}intermediate.dense.bias"] = [f];
            shapes[$"{p}output.dense.weight"] = [h, f];
            shapes[$"{p}output.dense.bias"] = [h];
            shapes[$"{p}output.LayerNorm.weight"] = [h];
            shapes[$"{p}output.LayerNorm.bias"] = [h];
        }
        if (pooler)
        {
            shapes["pooler.dense.weight"] = [h, h];
            shapes["pooler.dense.bias"] = [h];
        }
        return shapes;
    }

    private static BertConfig InferConfig(GraphIndex graph, string source, out bool hasPooler)
    {
        var word = graph.Matrix("embeddings.word_embeddings.weight");
        var positions = graph.Matrix("embeddings.position_embeddings.weight");
        var types = graph.Matrix("embeddings.token_type_embeddings.weight");
        var hidden = word.Dims[1];

        var layers = graph.Initializers.Keys
            .Select(n => LayerName.Match(n)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct().Order().ToList();
        if (layers.Count == 0) throw new InvalidDataException($"{source}: no 'encoder.layer.N.*' initializers; not a BERT export.");
        if (layers[^1] != layers.Count - 1)
            throw new InvalidDataException($"{source}: encoder layers [{string.Join(", ", layers)}] are not numbered 0..{layers.Count - 1}.");

        if (!graph.Initializers.TryGetValue("encoder.layer.0.intermediate.dense.bias", out var intermediate) || intermediate.Dims.Length != 1)
            throw new InvalidDataException($"{source}: no vector 'encoder.layer.0.intermediate.dense.bias' to read intermediate_size from.");

        hasPooler = graph.Initializers.ContainsKey("pooler.dense.bias") || graph.Initializers.ContainsKey("pooler.dense.weight");
        var config = new BertConfig
        {
            VocabSize = checked((int)word.Dims[0]),
            HiddenSize = checked((int)hidden),
            NumHiddenLayers = layers.Count,
            NumAttentionHeads = InferHeads(graph, layers.Count, hidden, source),
            IntermediateSize = checked((int)intermediate.Dims[0]),
            HiddenAct = InferActivation(graph, layers.Count, source),
            MaxPositionEmbeddings = checked((int)positions.Dims[0]),
            TypeVocabSize = checked((int)types.Dims[0]),
            LayerNormEps = InferLayerNormEps(graph, source),
        };
        config.Validate(source);
        return config;
    }

    /// <summary>
    /// The head count, from the Reshape that splits a query/key/value projection into
    /// <c>[batch, sequence, heads, head_size]</c>: its shape's last two entries are constants even when the
    /// first two are computed from the input, and their product must be the hidden size.
    /// </summary>
    private static int InferHeads(GraphIndex graph, int layers, long hidden, string source)
    {
        var found = new SortedSet<long>();
        for (var i = 0; i < layers; i++)
        {
            foreach (var part in new[] { "query", "key", "value" })
            {
                var projection = graph.ConsumersOf($"encoder.layer.{i}.attention.self.{part}.bias").FirstOrDefault(n => n.OpType == "Add");
                if (projection is null) continue;
                foreach (var reshape in graph.ConsumersOf(projection.Outputs[0]).Where(n => n.OpType == "Reshape" && n.Inputs.Count == 2))
                {
                    var shape = graph.ResolveInts(reshape.Inputs[1]);
                    if (shape is { Length: 4 } && shape[2] is { } heads && shape[3] is { } size && heads > 0 && heads * size == hidden)
                        found.Add(heads);
                }
            }
        }
        if (found.Count == 0)
            throw new InvalidDataException($"{source}: cannot infer num_attention_heads: no Reshape of a query/key/value projection to [batch, sequence, heads, head_size] with constant heads × head_size = {hidden}.");
        if (found.Count > 1)
            throw new InvalidDataException($"{source}: the attention Reshapes disagree on num_attention_heads ({string.Join(", ", found)}).");
        return checked((int)found.Min);
    }

    /// <summary>Exact GELU is exported as <c>x · 0.5 · (1 + erf(x / √2))</c>: one Erf per layer. Anything else is refused, not guessed.</summary>
    private static string InferActivation(GraphIndex graph, int layers, string source)
    {
        var erf = graph.Nodes.Count(n => n.OpType == "Erf");
        var gelu = graph.Nodes.Count(n => n.OpType == "Gelu");
        if (erf == layers || gelu == layers) return "gelu";
        throw new InvalidDataException($"{source}: cannot tell the feed-forward activation ({erf} Erf nodes for {layers} layers); only exact-GELU exports are supported.");
    }

    /// <summary>
    /// The LayerNorm epsilon: a LayerNormalization node's attribute, or, in the decomposed form
    /// <c>(x − mean) / sqrt(mean((x − mean)²) + eps)</c>, the scalar added to a ReduceMean's output.
    /// </summary>
    private static double InferLayerNormEps(GraphIndex graph, string source)
    {
        var values = new SortedSet<float>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType == "LayerNormalization") values.Add(node.Attribute("epsilon")?.Float ?? 1e-5f);
            if (node.OpType != "Add" || node.Inputs.Count != 2) continue;
            for (var k = 0; k < 2; k++)
            {
                if (graph.Producer(node.Inputs[k])?.OpType == "ReduceMean" && graph.ResolveFloatScalar(node.Inputs[1 - k]) is { } eps)
                    values.Add(eps);
            }
        }
        if (values.Count == 0) throw new InvalidDataException($"{source}: cannot infer layer_norm_eps: no LayerNorm epsilon found in the graph.");
        if (values.Count > 1) throw new InvalidDataException($"{source}: the LayerNorms disagree on epsilon ({string.Join(", ", values)}).");
        // The graph holds a float32; its shortest round-trip text (1E-12) is the value the model was configured with.
        return double.Parse(values.Min.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>Why an initializer that is not a checkpoint tensor may be left out; throws when it may not.</summary>
    private static string WhyUnused(OnnxTensor initializer, GraphIndex graph, BertConfig config, string source)
    {
        if (initializer.Name == "embeddings.position_ids")
        {
            // The exporter saves BertEmbeddings' position_ids buffer. It is 0..max_positions-1, which the encoder
            // computes itself (transformers no longer saves it either); any other content would change the model.
            var ids = initializer.ToInt64s();
            if (ids.Length != config.MaxPositionEmbeddings || ids.Where((v, i) => v != i).Any())
                throw new InvalidDataException($"{source}: 'embeddings.position_ids' is not 0..{config.MaxPositionEmbeddings - 1}; custom position ids are not supported.");
            return "the position-id buffer 0..max_position_embeddings-1, which the encoder computes itself";
        }
        var consumers = graph.ConsumersOf(initializer.Name).Select(n => n.OpType).Distinct().Order(StringComparer.Ordinal).ToList();
        if (initializer.DataType is OnnxTensor.Int64 or OnnxTensor.Int32 && initializer.ElementCount <= 8
            && consumers.Count > 0 && consumers.All(ShapeOperators.Contains))
            return $"an integer shape/index constant of {string.Join(", ", consumers)}: graph plumbing, not a weight";
        throw new InvalidDataException($"{source}: initializer '{initializer.Name}' (data_type {initializer.DataType}, [{string.Join(", ", initializer.Dims)}], used by {(consumers.Count == 0 ? "nothing" : string.Join(", ", consumers))}) is neither a checkpoint tensor nor a known graph constant; refusing to drop it.");
    }

    private static torch.Tensor Transposed(OnnxTensor weight)
    {
        var values = weight.ToFloats();
        long rows = weight.Dims[0], columns = weight.Dims[1];
        var transposed = new float[values.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < columns; c++)
                transposed[c * rows + r] = values[r * columns + c];
        return torch.tensor(transposed, [columns, rows]);
    }
}
