using static TorchSharp.torch;

namespace Lily.Tests.Support;

/// <summary>The block of the PEFT fixture model: x + v_proj(tanh(q_proj(x))), then + fc2(tanh(fc1(·))).</summary>
public sealed class PeftFixtureBlock : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> fc1;
    private nn.Module<Tensor, Tensor> fc2;

    /// <summary>Creates the block with the fixture's sizes: q/v 16→16, fc1 16→32, fc2 32→16.</summary>
    public PeftFixtureBlock() : base(nameof(PeftFixtureBlock))
    {
        q_proj = nn.Linear(PeftFixtureNet.Dim, PeftFixtureNet.Dim);
        v_proj = nn.Linear(PeftFixtureNet.Dim, PeftFixtureNet.Dim);
        fc1 = nn.Linear(PeftFixtureNet.Dim, PeftFixtureNet.Hidden);
        fc2 = nn.Linear(PeftFixtureNet.Hidden, PeftFixtureNet.Dim);
        RegisterComponents();
    }

    /// <summary>The two residual branches, as the PyTorch Block.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + v_proj.call(q_proj.call(x).tanh());
        x = x + fc2.call(fc1.call(x).tanh());
        return x.MoveToOuterDisposeScope();
    }
}
