using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lily.Tests.Support.Bypass;

/// <summary>
/// One <c>Linear</c> object registered under two paths, <c>first.fc</c> and <c>second.fc</c> (the blocks
/// share it, as tied layers do): x → x + fc(x) → · + fc(·). The blocks hold it in fields typed
/// <c>Module&lt;Tensor, Tensor&gt;</c>, so each slot alone could be replaced.
/// </summary>
public sealed class TwoPathModel : nn.Module<Tensor, Tensor>
{
    private readonly SharedBlock first;
    private readonly SharedBlock second;

    /// <summary>Creates the model around one shared layer.</summary>
    public TwoPathModel(long dim) : base(nameof(TwoPathModel))
    {
        var shared = nn.Linear(dim, dim);
        first = new SharedBlock(shared);
        second = new SharedBlock(shared);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => second.call(first.call(x));

    /// <summary>x + fc(x), fc shared with another block.</summary>
    public sealed class SharedBlock : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> fc;

        /// <summary>Creates the block around <paramref name="shared"/>.</summary>
        public SharedBlock(nn.Module<Tensor, Tensor> shared) : base(nameof(SharedBlock))
        {
            fc = shared;
            RegisterComponents();
        }

        /// <inheritdoc />
        public override Tensor forward(Tensor x) => x + fc.call(x);
    }
}
