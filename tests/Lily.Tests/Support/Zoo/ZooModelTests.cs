using TorchSharp.Modules;
using Lily.TestModels.Llama;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Zoo;

public class ZooModelTests
{
    /// <summary>The Linear paths each style must expose, written out by hand so a change of layout fails here.</summary>
    private static readonly Dictionary<string, string[]> ExpectedLinearPaths = new()
    {
        ["LinearField"] = PerLayer("layers.{0}.q_proj", "layers.{0}.v_proj", "layers.{0}.fc1", "layers.{0}.fc2"),
        ["ModuleField"] = PerLayer("layers.{0}.q_proj", "layers.{0}.v_proj", "layers.{0}.fc1", "layers.{0}.fc2"),
        ["ModuleList"] = PerLayer("layers.{0}.proj.0", "layers.{0}.proj.1", "layers.{0}.mlp.0", "layers.{0}.mlp.1"),
        ["ModuleListSubclass"] = ["layers.0", "layers.1"],
        ["SequentialPositional"] = PerLayer("layers.{0}.0", "layers.{0}.2"),
        ["SequentialNamed"] = PerLayer("layers.{0}.fc1", "layers.{0}.fc2"),
        ["ModuleDict"] = PerLayer("layers.{0}.attn.q_proj", "layers.{0}.attn.v_proj", "layers.{0}.mlp.fc1", "layers.{0}.mlp.fc2"),
        ["ListOfLinear"] = ["q_proj_0", "v_proj_0", "q_proj_1", "v_proj_1"],
        // TorchSharp's named_modules lists a module's direct children before recursing, hence lm_head first.
        ["LlamaStyle"] = ["lm_head", .. PerLayer(
            "model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj",
            "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj")],
    };

    public static IEnumerable<object[]> Styles() => Zoo.Styles();

    [Fact]
    public void The_zoo_lists_every_style_once()
    {
        Zoo.All().Select(s => s.Name).Should().Equal(ExpectedLinearPaths.Keys);
    }

    [Theory]
    [MemberData(nameof(Styles))]
    public void Forward_keeps_batch_and_tokens_and_gives_the_expected_features(string style)
    {
        manual_seed(3);
        using var model = Zoo.Create(style);
        using var y = model.call(randn(2, 5, Zoo.InputDim(style)));
        long features = style == "LlamaStyle" ? Zoo.LlamaVocab : Zoo.Dim;
        y.shape.Should().Equal(2, 5, features);
        y.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(Styles))]
    public void Named_modules_list_exactly_the_expected_Linear_paths(string style)
    {
        using var model = Zoo.Create(style);
        LinearPaths(model).Should().Equal(ExpectedLinearPaths[style]);
    }

    [Theory]
    [MemberData(nameof(Styles))]
    public void Forward_runs_every_Linear_through_call_so_hooks_fire(string style)
    {
        manual_seed(4);
        using var model = Zoo.Create(style);
        var fired = new List<string>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is Linear linear) linear.register_forward_hook(_ => fired.Add(name));
        }
        using var y = model.call(randn(1, 3, Zoo.InputDim(style)));
        fired.Distinct().Should().BeEquivalentTo(ExpectedLinearPaths[style]);
    }

    [Fact]
    public void DirectForwardModel_skips_the_hooks_of_q_proj_only()
    {
        manual_seed(5);
        using var model = Zoo.CreateDirectForward();
        LinearPaths(model).Should().Equal(ExpectedLinearPaths["LinearField"]);
        var fired = new HashSet<string>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is Linear linear) linear.register_forward_hook(_ => fired.Add(name));
        }
        using var y = model.call(randn(1, 3, Zoo.Dim));
        fired.Should().BeEquivalentTo(ExpectedLinearPaths["LinearField"].Where(p => !p.EndsWith(".q_proj", StringComparison.Ordinal)));
    }

    [Fact]
    public void Same_seed_gives_the_same_weights()
    {
        foreach (var (name, create, _) in Zoo.All())
        {
            manual_seed(6);
            using var a = create();
            manual_seed(6);
            using var b = create();
            var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (pname, p) in a.named_parameters())
                p.allclose(pb[pname], rtol: 0, atol: 0).Should().BeTrue($"{name}.{pname} depends only on the seed");
        }
    }

    [Theory]
    [MemberData(nameof(Styles))]
    public void Backward_reaches_every_parameter(string style)
    {
        manual_seed(7);
        using var model = Zoo.Create(style);
        using var y = model.call(randn(2, 4, Zoo.InputDim(style)));
        // A random weighting, not a plain sum: a norm in front of a sum can have a zero gradient by symmetry.
        using var loss = (y * randn_like(y)).sum();
        loss.backward();
        var parameters = model.named_parameters().ToList();
        parameters.Should().NotBeEmpty();
        foreach (var (name, p) in parameters)
        {
            p.grad.Should().NotBeNull($"{name} is on the forward path");
            p.grad!.abs().sum().item<float>().Should().BeGreaterThan(0, $"{name} receives gradient");
        }
    }

    [Fact]
    public void Llama_decoder_is_causal()
    {
        manual_seed(8);
        using var model = Zoo.CreateLlama();
        using var x = randn(2, 6, Zoo.LlamaHidden);
        using var changed = x.clone();
        using (no_grad()) changed[.., 5] = randn(2, Zoo.LlamaHidden);

        using var y = model.call(x);
        using var yChanged = model.call(changed);

        y.narrow(1, 0, 5).allclose(yChanged.narrow(1, 0, 5), rtol: 0, atol: 1e-6).Should().BeTrue("earlier tokens cannot see the last one");
        y.narrow(1, 5, 1).allclose(yChanged.narrow(1, 5, 1), rtol: 0, atol: 1e-3).Should().BeFalse("the last token sees its own input");
    }

    [Fact]
    public void Llama_decoder_attends_to_earlier_tokens()
    {
        manual_seed(9);
        using var model = Zoo.CreateLlama();
        using var x = randn(1, 4, Zoo.LlamaHidden);
        using var changed = x.clone();
        using (no_grad()) changed[.., 0] = randn(1, Zoo.LlamaHidden);
        using var y = model.call(x);
        using var yChanged = model.call(changed);
        yChanged.narrow(1, 3, 1).allclose(y.narrow(1, 3, 1), rtol: 0, atol: 1e-3).Should().BeFalse("the last token attends to the first");
    }

    [Fact]
    public void Rotary_embedding_is_a_rotation_whose_dot_products_depend_on_the_offset_only()
    {
        manual_seed(10);
        using var rope = new RotaryEmbedding(headDim: 4, maxPositions: 8);
        // One vector repeated at positions 0..7: [batch 1, heads 1, tokens 8, head_dim 4].
        using var q = randn(4).expand(1, 1, 8, 4).contiguous();
        using var k = randn(4).expand(1, 1, 8, 4).contiguous();
        using var rq = rope.call(q);
        using var rk = rope.call(k);

        rq.narrow(2, 0, 1).allclose(q.narrow(2, 0, 1), rtol: 0, atol: 1e-6).Should().BeTrue("position 0 is not rotated");
        rq.norm(-1).allclose(q.norm(-1), rtol: 0, atol: 1e-5).Should().BeTrue("a rotation keeps lengths");
        rq.narrow(2, 3, 1).allclose(q.narrow(2, 3, 1), rtol: 0, atol: 1e-3).Should().BeFalse("position 3 is rotated");
        float Dot(int m, int n) => (rq[0, 0, m] * rk[0, 0, n]).sum().item<float>();
        Dot(1, 0).Should().BeApproximately(Dot(5, 4), 1e-5f);
        Dot(6, 2).Should().BeApproximately(Dot(7, 3), 1e-5f);
    }

    [Fact]
    public void Llama_rotary_buffers_stay_out_of_the_state_dict()
    {
        using var model = Zoo.CreateLlama();
        model.state_dict().Keys.Should().NotContain(k => k.Contains("_cached"));
        model.get_buffer("model.layers.0.self_attn.rotary_emb.cos_cached")!.shape.Should().Equal(64, 4);
        model.parameters().Sum(p => p.numel()).Should().Be(
            Zoo.Depth * (16 * 16 + 2 * 16 * 8 + 16 * 16 + 3 * 16 * 24 + 2 * 16) + 16 + 16 * Zoo.LlamaVocab);
    }

    private static string[] PerLayer(params string[] patterns) =>
        Enumerable.Range(0, Zoo.Depth).SelectMany(i => patterns.Select(p => string.Format(System.Globalization.CultureInfo.InvariantCulture, p, i))).ToArray();

    private static List<string> LinearPaths(nn.Module model) =>
        model.named_modules().Where(m => m.module is Linear).Select(m => m.name).ToList();
}
