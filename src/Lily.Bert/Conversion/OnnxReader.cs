namespace Lily.Bert.Conversion;

/// <summary>
/// Reads the parts of an ONNX file a weight converter needs (ModelProto → GraphProto → nodes, initializers,
/// inputs, outputs) straight from the protobuf wire format, so the library needs no protobuf or ONNX package.
/// Fields it does not use are skipped by wire type; anything malformed fails with the source and the field.
/// </summary>
internal static class OnnxReader
{
    /// <summary>Parses a whole ONNX model held in memory; tensors keep slices of <paramref name="data"/> (no copy).</summary>
    /// <param name="data">The file's bytes.</param>
    /// <param name="source">Names the model in error messages.</param>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed ONNX model with a graph.</exception>
    public static OnnxModel Read(ReadOnlyMemory<byte> data, string source)
    {
        if (data.Length == 0) throw new InvalidDataException($"{source}: the ONNX model is empty.");
        var reader = new ProtoReader(data, $"{source} (ModelProto)");
        long irVersion = 0;
        string producer = "", producerVersion = "";
        var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        OnnxGraph? graph = null;
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            switch (field)
            {
                case 1: reader.Expect(wire, ProtoReader.Varint, "ir_version"); irVersion = reader.ReadInt64(); break;
                case 2: reader.Expect(wire, ProtoReader.LengthDelimited, "producer_name"); producer = reader.ReadString(); break;
                case 3: reader.Expect(wire, ProtoReader.LengthDelimited, "producer_version"); producerVersion = reader.ReadString(); break;
                case 7:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "graph");
                    if (graph is not null) throw reader.Malformed("two graph fields");
                    graph = ReadGraph(reader.ReadMessage($"{source} (GraphProto)"), source);
                    break;
                case 8:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "opset_import");
                    var (domain, version) = ReadOpset(reader.ReadMessage($"{source} (OperatorSetIdProto)"));
                    opsets[domain] = version;
                    break;
                default: reader.Skip(wire); break;
            }
        }
        // A ModelProto always carries ir_version and a graph; bytes of another format that happen to parse as
        // protobuf almost never do, so this is what turns "random bytes" into a clear refusal.
        if (irVersion <= 0) throw new InvalidDataException($"{source}: not an ONNX model (no ir_version).");
        if (graph is null) throw new InvalidDataException($"{source}: the ONNX model has no graph.");
        return new OnnxModel { IrVersion = irVersion, ProducerName = producer, ProducerVersion = producerVersion, Opsets = opsets, Graph = graph };
    }

    private static (string Domain, long Version) ReadOpset(ProtoReader reader)
    {
        string domain = "";
        long version = 0;
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            if (field == 1) { reader.Expect(wire, ProtoReader.LengthDelimited, "domain"); domain = reader.ReadString(); }
            else if (field == 2) { reader.Expect(wire, ProtoReader.Varint, "version"); version = reader.ReadInt64(); }
            else reader.Skip(wire);
        }
        return (domain, version);
    }

    private static OnnxGraph ReadGraph(ProtoReader reader, string source)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new List<OnnxTensor>();
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            switch (field)
            {
                case 1:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "node");
                    nodes.Add(ReadNode(reader.ReadMessage($"{source} (node {nodes.Count})"), source));
                    break;
                case 5:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "initializer");
                    initializers.Add(ReadTensor(reader.ReadMessage($"{source} (initializer {initializers.Count})")));
                    break;
                case 11:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "input");
                    inputs.Add(ReadValueInfo(reader.ReadMessage($"{source} (graph input {inputs.Count})")));
                    break;
                case 12:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "output");
                    outputs.Add(ReadValueInfo(reader.ReadMessage($"{source} (graph output {outputs.Count})")));
                    break;
                case 15:
                    // Sparse initializers would be weights this reader silently lost; BERT exports never use them.
                    throw new InvalidDataException($"{source}: the graph has a sparse_initializer, which is not supported.");
                default: reader.Skip(wire); break;
            }
        }
        return new OnnxGraph { Nodes = nodes, Initializers = initializers, Inputs = inputs, Outputs = outputs };
    }

    private static OnnxNode ReadNode(ProtoReader reader, string source)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new List<OnnxAttribute>();
        string name = "", opType = "";
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            switch (field)
            {
                case 1: reader.Expect(wire, ProtoReader.LengthDelimited, "node input"); inputs.Add(reader.ReadString()); break;
                case 2: reader.Expect(wire, ProtoReader.LengthDelimited, "node output"); outputs.Add(reader.ReadString()); break;
                case 3: reader.Expect(wire, ProtoReader.LengthDelimited, "node name"); name = reader.ReadString(); break;
                case 4: reader.Expect(wire, ProtoReader.LengthDelimited, "op_type"); opType = reader.ReadString(); break;
                case 5:
                    reader.Expect(wire, ProtoReader.LengthDelimited, "attribute");
                    attributes.Add(ReadAttribute(reader.ReadMessage($"{source} (attribute of node '{name}')")));
                    break;
                default: reader.Skip(wire); break;
            }
        }
        if (opType.Length == 0) throw new InvalidDataException($"{source}: node '{name}' has no op_type.");
        return new OnnxNode { Name = name, OpType = opType, Inputs = inputs, Outputs = outputs, Attributes = attributes };
    }

    private static OnnxAttribute ReadAttribute(ProtoReader reader)
    {
        string name = "";
        long? i = null;
        float? f = null;
        var ints = new List<long>();
        OnnxTensor? tensor = null;
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            switch (field)
            {
                case 1: reader.Expect(wire, ProtoReader.LengthDelimited, "attribute name"); name = reader.ReadString(); break;
                case 2: reader.Expect(wire, ProtoReader.Fixed32, "attribute f"); f = reader.ReadFloat(); break;
                case 3: reader.Expect(wire, ProtoReader.Varint, "attribute i"); i = reader.ReadInt64(); break;
                case 5: reader.Expect(wire, ProtoReader.LengthDelimited, "attribute t"); tensor = ReadTensor(reader.ReadMessage("attribute tensor")); break;
                case 8: reader.ReadRepeatedInt64(wire, ints); break;
                default: reader.Skip(wire); break;
            }
        }
        return new OnnxAttribute { Name = name, Int = i, Float = f, Ints = ints, Tensor = tensor };
    }

    private static OnnxTensor ReadTensor(ProtoReader reader)
    {
        var dims = new List<long>();
        var floats = new List<float>();
        var int64s = new List<long>();
        string name = "";
        var dataType = 0;
        var raw = ReadOnlyMemory<byte>.Empty;
        var external = false;
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            switch (field)
            {
                case 1: reader.ReadRepeatedInt64(wire, dims); break;
                case 2: reader.Expect(wire, ProtoReader.Varint, "data_type"); dataType = reader.ReadInt32(); break;
                case 3: throw reader.Malformed("segmented tensors are not supported");
                case 4: reader.ReadRepeatedFloat(wire, floats); break;
                case 5: reader.ReadRepeatedInt64(wire, int64s); break; // int32_data: varints, widened
                case 7: reader.ReadRepeatedInt64(wire, int64s); break;
                case 8: reader.Expect(wire, ProtoReader.LengthDelimited, "tensor name"); name = reader.ReadString(); break;
                case 9: reader.Expect(wire, ProtoReader.LengthDelimited, "raw_data"); raw = reader.ReadBytes(); break;
                case 13: external = true; reader.Skip(wire); break;
                case 14: reader.Expect(wire, ProtoReader.Varint, "data_location"); external |= reader.ReadInt64() == 1; break;
                default: reader.Skip(wire); break;
            }
        }
        if (dims.Any(d => d < 0)) throw reader.Malformed($"tensor '{name}' has a negative dimension [{string.Join(", ", dims)}]");
        return new OnnxTensor { Name = name, Dims = [.. dims], DataType = dataType, RawData = raw, FloatData = floats, Int64Data = int64s, IsExternal = external };
    }

    private static OnnxValueInfo ReadValueInfo(ProtoReader reader)
    {
        string name = "";
        var elementType = 0;
        var shape = new List<string>();
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            if (field == 1) { reader.Expect(wire, ProtoReader.LengthDelimited, "value name"); name = reader.ReadString(); }
            else if (field == 2)
            {
                // TypeProto.tensor_type (1) → TypeProto.Tensor { elem_type (1), shape (2) → dim (1) → value (1) | param (2) }.
                reader.Expect(wire, ProtoReader.LengthDelimited, "type");
                var type = reader.ReadMessage("TypeProto");
                while (!type.AtEnd)
                {
                    var (tf, tw) = type.ReadTag();
                    if (tf != 1) { type.Skip(tw); continue; }
                    type.Expect(tw, ProtoReader.LengthDelimited, "tensor_type");
                    var tensor = type.ReadMessage("TypeProto.Tensor");
                    while (!tensor.AtEnd)
                    {
                        var (ef, ew) = tensor.ReadTag();
                        if (ef == 1) { tensor.Expect(ew, ProtoReader.Varint, "elem_type"); elementType = tensor.ReadInt32(); }
                        else if (ef == 2) { tensor.Expect(ew, ProtoReader.LengthDelimited, "shape"); ReadShape(tensor.ReadMessage("TensorShapeProto"), shape); }
                        else tensor.Skip(ew);
                    }
                }
            }
            else reader.Skip(wire);
        }
        return new OnnxValueInfo { Name = name, ElementType = elementType, Shape = shape };
    }

    private static void ReadShape(ProtoReader reader, List<string> shape)
    {
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.ReadTag();
            if (field != 1) { reader.Skip(wire); continue; }
            reader.Expect(wire, ProtoReader.LengthDelimited, "dim");
            var dim = reader.ReadMessage("Dimension");
            var text = "?";
            while (!dim.AtEnd)
            {
                var (df, dw) = dim.ReadTag();
                if (df == 1) { dim.Expect(dw, ProtoReader.Varint, "dim_value"); text = dim.ReadInt64().ToString(System.Globalization.CultureInfo.InvariantCulture); }
                else if (df == 2) { dim.Expect(dw, ProtoReader.LengthDelimited, "dim_param"); text = dim.ReadString(); }
                else dim.Skip(dw);
            }
            shape.Add(text);
        }
    }
}
