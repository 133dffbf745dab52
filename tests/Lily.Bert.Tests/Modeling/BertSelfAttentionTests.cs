using Lily.Bert.Modeling;
using static TorchSharp.torch;

namespace Lily.Bert.Tests.Modeling;

public sealed class BertSelfAttentionTests
{
    [Theory]
    [InlineData(AttentionImplementation.Sdpa)]
    [InlineData(AttentionImplementation.Eager)]
    public void Float64Attention_EqualsNaiveLoops(AttentionImplementation implementation)
    {
        var config = TinyBert.Config with { HiddenSize = 8, NumAttentionHeads = 2, IntermediateSize = 16, AttentionImplementation = implementation };
        const int batch = 2, length = 4, hidden = 8, heads = 2, headSize = 4;
        using var attention = new BertSelfAttention(config, dtype: ScalarType.Float64);
        TinyBert.Randomize(attention, seed: 11);
        attention.eval();
        using var scope = NewDisposeScope();
        var x = randn([batch, length, hidden], dtype: ScalarType.Float64, generator: new Generator(12));
        // The second sequence's last token is padding.
        var mask = tensor(new long[,] { { 1, 1, 1, 1 }, { 1, 1, 1, 0 } });
        var actual = attention.call(x, BertModel.ExtendedAttentionMask(mask, ScalarType.Float64)).data<double>().ToArray();

        double[] X = x.data<double>().ToArray();
        double[] Wq = attention.Query.weight!.data<double>().ToArray(), Bq = attention.Query.bias!.data<double>().ToArray();
        double[] Wk = attention.Key.weight!.data<double>().ToArray(), Bk = attention.Key.bias!.data<double>().ToArray();
        double[] Wv = attention.Value.weight!.data<double>().ToArray(), Bv = attention.Value.bias!.data<double>().ToArray();
        var m = mask.data<long>().ToArray();

        // y[b, t, o] = Σ_i x[b, t, i] W[o, i] + bias[o]
        double Project(double[] w, double[] bias, int b, int t, int o)
        {
            var sum = bias[o];
            for (var i = 0; i < hidden; i++) sum += X[(b * length + t) * hidden + i] * w[o * hidden + i];
            return sum;
        }

        var expected = new double[batch * length * hidden];
        for (var b = 0; b < batch; b++)
        for (var h = 0; h < heads; h++)
        for (var t = 0; t < length; t++)
        {
            // Softmax over the real keys only: the padded key is simply left out.
            var weights = new double[length];
            var total = 0.0;
            for (var s = 0; s < length; s++)
            {
                if (m[b * length + s] == 0) continue;
                var dot = 0.0;
                for (var d = 0; d < headSize; d++)
                {
                    var o = h * headSize + d;
                    dot += Project(Wq, Bq, b, t, o) * Project(Wk, Bk, b, s, o);
                }

                weights[s] = Math.Exp(dot / Math.Sqrt(headSize));
                total += weights[s];
            }

            for (var d = 0; d < headSize; d++)
            {
                var o = h * headSize + d;
                var context = 0.0;
                for (var s = 0; s < length; s++) context += weights[s] / total * Project(Wv, Bv, b, s, o);
                expected[(b * length + t) * hidden + o] = context;
            }
        }

        actual.Should().HaveCount(expected.Length);
        for (var i = 0; i < expected.Length; i++)
            actual[i].Should().BeApproximately(expected[i], 1e-12, $"element {i}");
    }

    [Theory]
    [InlineData("gelu")]
    [InlineData("gelu_new")]
    [InlineData("relu")]
    public void Activation_MatchesItsFormula(string name)
    {
        using var scope = NewDisposeScope();
        var x = linspace(-4, 4, 33, dtype: ScalarType.Float64);
        var values = x.data<double>().ToArray();
        var y = BertIntermediate.Activate(x, name).data<double>().ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            var v = values[i];
            var expected = name switch
            {
                // Exact GELU is v·Φ(v); .NET has no erf, so Φ is integrated numerically.
                "gelu" => v * NormalCdf(v),
                "gelu_new" => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
                _ => Math.Max(0, v),
            };
            y[i].Should().BeApproximately(expected, name == "gelu" ? 1e-9 : 1e-12, $"{name}({v})");
        }
    }

    private static double NormalCdf(double v)
    {
        // Simpson's rule on the standard normal density from 0 to v; 2000 intervals give ~1e-13.
        const int n = 2000;
        double Density(double t) => Math.Exp(-t * t / 2) / Math.Sqrt(2 * Math.PI);
        var h = v / n;
        var sum = Density(0) + Density(v);
        for (var k = 1; k < n; k++) sum += (k % 2 == 1 ? 4 : 2) * Density(k * h);
        return 0.5 + sum * h / 3;
    }
}
