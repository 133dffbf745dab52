using System.Reflection;
using Lily.FashionMnist;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lily.Tests.FashionMnist;

public sealed class VisionTransformerTests
{
    [Theory]
    [InlineData(7)]
    [InlineData(4)]
    public void Maps_a_batch_of_images_to_one_logit_per_class(int patchSize)
    {
        using var model = new VisionTransformer(patchSize: patchSize, dim: 16, depth: 2, heads: 4, mlpRatio: 2, numClasses: 5);
        using var x = randn(3, 1, 28, 28);

        using var logits = model.call(x);

        logits.shape.Should().Equal(3L, 5L);
        model.NumPatches.Should().Be((28 / patchSize) * (28 / patchSize));
    }

    [Fact]
    public void Exposes_every_linear_layer_under_a_predictable_path()
    {
        const int depth = 3;
        using var model = new VisionTransformer(dim: 16, depth: depth, heads: 2, numClasses: 4);

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);

        for (int i = 0; i < depth; i++)
        {
            foreach (var leaf in new[] { "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.o_proj", "mlp.fc1", "mlp.fc2" })
            {
                modules.Should().ContainKey($"blocks.{i}.{leaf}").WhoseValue.Should().BeOfType<Linear>();
            }
            modules.Should().ContainKey($"blocks.{i}.ln1").WhoseValue.Should().BeOfType<LayerNorm>();
            modules.Should().ContainKey($"blocks.{i}.ln2").WhoseValue.Should().BeOfType<LayerNorm>();
        }
        modules.Should().ContainKey("head").WhoseValue.Should().BeOfType<Linear>();
        modules.Should().ContainKey("norm");
        modules.Should().ContainKey("patch_embed.proj");
        modules.Should().NotContainKey($"blocks.{depth}.attn.q_proj");
        model.named_parameters().Select(p => p.name).Should().Contain(["cls_token", "pos_embed", "head.weight", "head.bias"]);
    }

    [Fact]
    public void An_adapter_assigned_to_a_projection_field_is_used_by_forward()
    {
        using var model = new VisionTransformer(dim: 16, depth: 2, heads: 2, numClasses: 3);
        var attention = (Attention)model.named_modules().Single(m => m.name == "blocks.1.attn").module;
        var field = typeof(Attention).GetField("q_proj", BindingFlags.Instance | BindingFlags.NonPublic)!;
        field.FieldType.Should().Be(typeof(Module<Tensor, Tensor>), "a PEFT library must be able to put any module there");

        var counting = new Counting((Module<Tensor, Tensor>)field.GetValue(attention)!);
        field.SetValue(attention, counting);
        using var x = randn(2, 1, 28, 28);
        using (var _ = model.call(x)) { }

        counting.Calls.Should().Be(1);
    }

    [Fact]
    public void Reset_head_draws_new_head_weights_only()
    {
        using var model = new VisionTransformer(dim: 16, depth: 1, heads: 2, numClasses: 3);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        model.ResetHead();

        foreach (var (name, value) in model.state_dict())
        {
            bool same = value.equal(before[name]).all().item<bool>();
            same.Should().Be(!name.StartsWith("head.", StringComparison.Ordinal), name);
        }
    }

    private sealed class Counting : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> inner;

        public Counting(Module<Tensor, Tensor> inner) : base("counting")
        {
            this.inner = inner;
            RegisterComponents();
        }

        public int Calls { get; private set; }

        public override Tensor forward(Tensor input)
        {
            Calls++;
            return inner.call(input);
        }
    }
}
