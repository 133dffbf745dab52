using Lily.Serialization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>
/// The C# twin of the fixture README's MoeNet (fixture <c>moe_layers</c>): <c>model.layers.{i}.self_attn.q_proj</c>
/// and <c>model.layers.{i}.mlp.experts.{e}.{up_proj,down_proj}</c>, i, e = 0..1; each block is
/// x + tanh(q_proj(x)), then x + 0.5·down_proj(tanh(up_proj(x))) for expert 0, then for expert 1 on that result.
/// </summary>
public sealed class MoeFixtureNet : nn.Module<Tensor, Tensor>
{
    private readonly Decoder model;

    /// <summary>Creates the net with TorchSharp's default initialisation.</summary>
    public MoeFixtureNet() : base(nameof(MoeFixtureNet))
    {
        model = new Decoder();
        RegisterComponents();
    }

    /// <summary>MoeNet(x) = model(x).</summary>
    public override Tensor forward(Tensor x) => model.call(x);

    /// <summary>A net holding <c>base.safetensors</c> of <paramref name="fixtureDir"/>.</summary>
    public static MoeFixtureNet LoadBase(string fixtureDir)
    {
        var net = new MoeFixtureNet();
        var file = SafeTensorsReader.ReadFile(Path.Combine(fixtureDir, "base.safetensors"));
        using (no_grad())
        {
            var parameters = net.named_parameters().ToList();
            file.Names.Should().BeEquivalentTo(parameters.Select(p => p.name));
            foreach (var (name, parameter) in parameters)
            {
                using var value = file.ToTensor(name);
                parameter.copy_(value);
            }
        }
        return net;
    }

    private sealed class Decoder : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<Block> layers;

        public Decoder() : base(nameof(Decoder))
        {
            layers = nn.ModuleList(new Block(), new Block());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            foreach (var layer in layers) x = layer.call(x);
            return x.MoveToOuterDisposeScope();
        }
    }

    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly Attention self_attn;
        private readonly Mlp mlp;

        public Block() : base(nameof(Block))
        {
            self_attn = new Attention();
            mlp = new Mlp();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            x = x + self_attn.call(x).tanh();
            return mlp.call(x).MoveToOuterDisposeScope();
        }
    }

    private sealed class Attention : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> q_proj;

        public Attention() : base(nameof(Attention))
        {
            q_proj = nn.Linear(16, 16);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => q_proj.call(x);
    }

    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<Expert> experts;

        public Mlp() : base(nameof(Mlp))
        {
            experts = nn.ModuleList(new Expert(), new Expert());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            foreach (var expert in experts) x = x + 0.5 * expert.call(x);
            return x.MoveToOuterDisposeScope();
        }
    }

    private sealed class Expert : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> up_proj;
        private nn.Module<Tensor, Tensor> down_proj;

        public Expert() : base(nameof(Expert))
        {
            up_proj = nn.Linear(16, 32);
            down_proj = nn.Linear(32, 16);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => down_proj.call(up_proj.call(x).tanh());
    }
}
