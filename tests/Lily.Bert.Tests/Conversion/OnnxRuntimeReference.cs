using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Lily.Bert.Tests.Conversion;

/// <summary>Runs an ONNX BERT export in ONNX Runtime: the reference an encoder's output is compared with.</summary>
public static class OnnxRuntimeReference
{
    /// <summary>Every graph output for one batch, by name: values (row-major) and shape.</summary>
    /// <param name="onnx">The model bytes.</param>
    /// <param name="inputIds">[batch, sequence], row-major.</param>
    /// <param name="attentionMask">[batch, sequence]: 1 for real tokens, 0 for padding.</param>
    /// <param name="tokenTypeIds">[batch, sequence].</param>
    /// <param name="batch">Rows.</param>
    public static Dictionary<string, (float[] Values, long[] Shape)> Run(byte[] onnx, long[] inputIds, long[] attentionMask, long[] tokenTypeIds, int batch)
    {
        var sequence = inputIds.Length / batch;
        int[] dims = [batch, sequence];
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(onnx, options);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(inputIds, dims)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(attentionMask, dims)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(tokenTypeIds, dims)),
        };
        using var results = session.Run(inputs);
        return results.ToDictionary(
            r => r.Name,
            r =>
            {
                var tensor = r.AsTensor<float>();
                return (tensor.ToArray(), tensor.Dimensions.ToArray().Select(d => (long)d).ToArray());
            });
    }

    /// <summary>The <c>last_hidden_state</c> output, [batch, sequence, hidden].</summary>
    public static (float[] Values, long[] Shape) LastHiddenState(byte[] onnx, long[] inputIds, long[] attentionMask, long[] tokenTypeIds, int batch)
        => Run(onnx, inputIds, attentionMask, tokenTypeIds, batch)["last_hidden_state"];
}
